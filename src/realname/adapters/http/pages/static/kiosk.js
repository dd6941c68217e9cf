// The store kiosk: one customer visit from the clerk's sign-in to the receipt. The clerk says what the visit is
// for (a new number, a SIM replacement, a surrender, a re-verification), the customer's identity is checked
// (verification.js), then the service is done and its receipt shown.
// Every screen is a <section data-screen>; <main data-state> names the one shown, so tests wait for it.
// The page only calls the API and shows its answers; every decision is the server's.
"use strict";

(function () {
  const R = window.Realname;
  const V = window.RealnameVerification;
  const $ = (id) => document.getElementById(id);
  const t = R.t;

  const NEXT_STEP_TEXT = {
    choose_number: "Next: choose a number for the customer.",
    confirm_surrender: "Next: confirm the surrender.",
    scan_new_sim: "Next: scan the new SIM card.",
    confirm_reverification: "Next: confirm the re-verification.",
    view_records: "Next: show the customer their records.",
    retry_or_review: "Next: try again with a new challenge, or end the visit and ask for a manual review.",
  };

  // The services a verified owner can ask for, by the purpose the API knows them by, and by the next step
  // the API names after a passed face check. Whether a service may happen is the API's answer, not the page's.
  const OWNER_SERVICES = {
    sim_replacement: {
      nextStep: "scan_new_sim",
      path: "sim-replacement",
      simLabel: "New SIM",
      hint: "Ask the customer for the number whose SIM card is replaced, then scan the new SIM card.",
      submit: "Bind the new SIM card",
      title: "SIM card replaced",
      happened: (number, receipt) =>
        t("The new SIM card {iccid} now serves {number}. The old SIM card no longer works.", {
          iccid: receipt.iccid,
          number,
        }),
      next: "Give the customer the new SIM card and keep the old one for destruction.",
    },
    surrender: {
      nextStep: "confirm_surrender",
      path: "surrender",
      simLabel: "SIM taken back",
      hint: "Ask the customer for the number they give up. It stops working at once.",
      submit: "Surrender the number",
      title: "Number surrendered",
      happened: (number) => t("Number {number} no longer belongs to this customer and has stopped working.", { number }),
      next:
        "Take back the SIM card for destruction. The number rests for a cooling-off period before anyone else " +
        "can have it.",
    },
    reverify: {
      nextStep: "confirm_reverification",
      path: "reverification",
      simLabel: "SIM",
      hint: "Ask the customer for the suspended number.",
      submit: "Re-activate the number",
      title: "Number active again",
      happened: (number) => t("Number {number} is active again.", { number }),
      next: "The customer can use the number with their current SIM card straight away.",
    },
  };
  const PURPOSE_TEXT = {
    register: "Register a new number",
    sim_replacement: "Replace a SIM card",
    surrender: "Surrender a number",
    reverify: "Re-verify a suspended number",
  };

  const NO_VISIT = {
    attemptId: null,
    purpose: null,
    service: null,
    msisdn: null,
    idempotencyKey: null,
    serviceRequest: null,
    numbersAfter: "",
  };
  const visit = { ...NO_VISIT };

  function busy(button, on) {
    if (button) button.disabled = on;
  }

  function showPurpose(purpose) {
    $("app").dataset.purpose = purpose || "";
    R.text("visit-purpose", purpose ? t("Visit: {purpose}", { purpose: t(PURPOSE_TEXT[purpose]) }) : "");
    $("visit-purpose").hidden = !purpose;
  }

  // End the visit: forget the attempt and, unless the same customer stays for another service, the customer.
  function endVisit({ sameCustomer }) {
    stopReviewPolling();
    delete $("app").dataset.resumed;
    Object.assign(visit, NO_VISIT);
    if (!sameCustomer) V.forget();
    $("numbers-form").reset();
    $("service-form").reset();
    showPurpose(null);
    $("same-customer-note").hidden = !sameCustomer;
    R.showState("start");
  }

  function resetVisit() {
    endVisit({ sameCustomer: false });
  }

  // --- sign-in and the visit's purpose ----------------------------------------------------------------------

  R.staffSession({
    whoKey: "realname.who",
    onSignedIn: resumeVisit,
    onSignedOut: resetVisit,
  });

  // End the visit on the server: its attempt is closed and every number it holds reserved is given back at once.
  async function closeVisit() {
    if (visit.attemptId) await R.call("POST", "/v1/attempts/" + visit.attemptId + "/end");
  }

  // The visit lives on the server: after a reload or a new sign-in the kiosk asks for the clerk's open visit on
  // this kiosk and goes back to its step. Nothing of the customer was kept here, so before the face check the
  // card is read again.
  async function resumeVisit() {
    const device = encodeURIComponent(R.deviceId(DEVICE_KEY, "kiosk"));
    const current = await R.call("GET", "/v1/visits/current?device_id=" + device);
    const attempt = current.attempt;
    // A declined consent is in the reviewers' hands (with the customer in person): nothing to resume here.
    if (!attempt || current.step === "manual_review") return R.showState("start");
    visit.attemptId = attempt.id;
    visit.purpose = attempt.purpose;
    showPurpose(attempt.purpose);
    $("app").dataset.resumed = "visit";
    const step = current.step;
    if (step === "document") return V.begin(attempt.id);
    if (step === "face_check") return V.resumeFaceCheck(attempt.id);
    if (step === "review_wait") return waitForReview(await R.call("GET", "/v1/attempts/" + attempt.id + "/review"));
    if (step === "receipt") return showKeptReceipt(attempt.purpose, current.receipt, current.printed);
    const passed = step !== "decision";
    V.showDecision({ passed, reason_category: attempt.reason_category, next_step: current.next_step || "retry_or_review", attempt });
    const held = current.reserved[current.reserved.length - 1];
    if (step === "sim" && held) showReserved(held);
  }

  const DEVICE_KEY = "realname.device_id";

  function showDeviceId() {
    R.text("device-id", R.deviceId(DEVICE_KEY, "kiosk"));
  }

  for (const button of document.querySelectorAll("[data-screen=start] button[data-purpose]")) {
    button.addEventListener("click", () => {
      busy(button, true);
      R.guard(async () => {
        const purpose = button.dataset.purpose;
        const attempt = await R.withDeviceId(DEVICE_KEY, "kiosk", (device_id) =>
          R.call("POST", "/v1/attempts", { json: { purpose, device_id } })
        );
        visit.attemptId = attempt.id;
        visit.purpose = attempt.purpose;
        showPurpose(attempt.purpose);
        $("same-customer-note").hidden = true;
        V.begin(attempt.id);
      }).finally(() => {
        busy(button, false);
        showDeviceId();
      });
    });
  }

  $("forget-customer").addEventListener("click", resetVisit);

  // --- identity check (verification.js) and its decision ----------------------------------------------------

  V.setup({
    verdicts: {
      passed: "Verified: the customer is who the ID says",
      rejected: "Not verified",
      error: "The face check could not be completed",
    },
    onManualReview: () => R.showState("manual_review"),
    onDecision: (decision) => {
      const passed = decision !== null && decision.passed;
      const nextStep = decision === null ? "retry_or_review" : decision.next_step;
      R.text("decision-next", t(NEXT_STEP_TEXT[nextStep] || ""));
      visit.service = passed ? ownerServiceFor(nextStep) : null;
      showRejectionActions(decision);
      $("to-numbers").hidden = !(passed && nextStep === "choose_number");
      $("to-service").hidden = !visit.service;
      R.text("to-service", visit.service ? t("Continue: {service}", { service: t(PURPOSE_TEXT[visit.service]) }) : "");
    },
  });

  // --- a rejection: the clerk asks for a review; the visit resumes when the reviewers approve --------------

  function showRejectionActions(decision) {
    const rejected = decision !== null && !decision.passed;
    const spoof = rejected && decision.reason_category === "spoof_suspected";
    $("spoof-alert").hidden = !spoof;
    // Suspected fraud opened its review by itself; any other rejection may be sent for review with a reason.
    $("review-request-form").hidden = !rejected || spoof;
    $("to-review").hidden = !spoof;
    $("decision-next").hidden = spoof; // "try again" is not the next step after suspected fraud
    if (spoof) $("retry-challenge").hidden = true; // suspected fraud is not a bad photo: no "try again"
    if (spoof) $("app").dataset.alert = "spoof_suspected";
    else delete $("app").dataset.alert;
  }

  const REVIEW_POLL_MS = 3000;
  let reviewTimer = null;

  function stopReviewPolling() {
    if (reviewTimer) clearTimeout(reviewTimer);
    reviewTimer = null;
  }

  const REVIEW_STATE_TEXT = {
    open: "A reviewer will look at this visit.",
    awaiting_second: "One reviewer approved; waiting for a second reviewer.",
    closed: "The review is closed.",
    overruled: "The second reviewer did not confirm: the rejection stands.",
  };

  function showReviewStatus(status) {
    const state = status.state || "open";
    $("app").dataset.review = state;
    R.text("review-state", t(REVIEW_STATE_TEXT[state] || state));
    if (status.next_step) {
      // Approved by the reviewers: the visit resumes where an approved face check would have taken it.
      stopReviewPolling();
      $("app").dataset.resumed = "review";
      V.showDecision({ passed: true, reason_category: null, next_step: status.next_step, attempt: status.attempt });
      return true;
    }
    if (status.state === "closed" || status.state === "overruled") {
      stopReviewPolling();
      R.text("review-state", t("The reviewers did not approve this visit. End it and tell the customer."));
    }
    return false;
  }

  async function pollReview() {
    stopReviewPolling();
    const status = await R.call("GET", "/v1/attempts/" + visit.attemptId + "/review");
    if (!showReviewStatus(status) && R.currentState() === "review_wait" && !["closed", "overruled"].includes(status.state)) {
      reviewTimer = setTimeout(() => R.guard(pollReview), REVIEW_POLL_MS);
    }
  }

  function waitForReview(status) {
    R.showState("review_wait");
    showReviewStatus(status);
    reviewTimer = setTimeout(() => R.guard(pollReview), REVIEW_POLL_MS);
  }

  $("review-request-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    R.guard(async () => {
      const status = await R.call("POST", "/v1/attempts/" + visit.attemptId + "/review-request", {
        json: { reason: form.reason.value.trim() },
      });
      form.reset();
      waitForReview(status);
    });
  });
  $("to-review").addEventListener("click", () =>
    R.guard(async () => waitForReview(await R.call("GET", "/v1/attempts/" + visit.attemptId + "/review")))
  );
  $("review-refresh").addEventListener("click", () => R.guard(pollReview));
  $("review-abandon").addEventListener("click", () =>
    R.guard(async () => {
      stopReviewPolling();
      await closeVisit();
      resetVisit();
      R.showState("ended");
    })
  );

  function ownerServiceFor(nextStep) {
    return Object.keys(OWNER_SERVICES).find((purpose) => OWNER_SERVICES[purpose].nextStep === nextStep) || null;
  }

  $("abandon").addEventListener("click", () =>
    R.guard(async () => {
      await closeVisit();
      resetVisit();
      R.showState("ended");
    })
  );

  // --- a new number: picker, SIM, receipt -------------------------------------------------------------------

  async function loadNumbers(after) {
    const form = $("numbers-form");
    const query = new URLSearchParams({ prefix: form.prefix.value.trim(), pattern: form.pattern.value.trim(), limit: "12" });
    if (after) query.set("after", after);
    const page = await R.call("GET", "/v1/numbers/available?" + query.toString());
    const list = $("number-list");
    list.replaceChildren();
    for (const number of page.numbers) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "number";
      button.textContent = number.msisdn;
      button.dataset.msisdn = number.msisdn;
      button.addEventListener("click", () => R.guard(() => reserve(number.msisdn)));
      item.append(button);
      list.append(item);
    }
    if (!page.numbers.length) {
      const item = document.createElement("li");
      item.className = "muted";
      item.textContent = t("No available number matches.");
      list.append(item);
    }
    visit.numbersAfter = page.next_after || "";
    $("numbers-more").hidden = !page.next_after;
    $("numbers-first").hidden = !after;
  }

  $("to-numbers").addEventListener("click", () =>
    R.guard(async () => {
      await loadNumbers("");
      R.showState("numbers");
    })
  );
  $("numbers-form").addEventListener("submit", (event) => {
    event.preventDefault();
    R.guard(() => loadNumbers(""));
  });
  $("numbers-more").addEventListener("click", () => R.guard(() => loadNumbers(visit.numbersAfter)));
  $("numbers-first").addEventListener("click", () => R.guard(() => loadNumbers("")));

  async function reserve(msisdn) {
    showReserved(await R.call("POST", "/v1/attempts/" + visit.attemptId + "/reservation", { json: { msisdn } }));
  }

  function showReserved(held) {
    visit.msisdn = held.msisdn;
    visit.idempotencyKey = crypto.randomUUID();
    R.text("reserved", t("Number {number} is held until {time}.", { number: held.msisdn, time: R.formatTime(held.reserved_until) }));
    R.showState("sim");
  }

  $("sim-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const button = form.querySelector("button[type=submit]");
    busy(button, true);
    R.guard(async () => {
      // The same key on every retry of this completion: the server answers a retry with the first result.
      const completion = { msisdn: visit.msisdn, iccid: form.iccid.value.replace(/\s+/g, "") };
      const printed = { number: completion.msisdn, iccid: completion.iccid };
      if (form.holder_name.value.trim()) completion.name = form.holder_name.value.trim();
      const receipt = await R.call("POST", "/v1/attempts/" + visit.attemptId + "/registration", {
        json: completion,
        headers: { "Idempotency-Key": visit.idempotencyKey },
      });
      form.reset();
      showReceipt({
        title: t("Registered"),
        happened: t("Number {number} is registered to the customer.", { number: receipt.number }),
        rows: receiptRows(receipt, t("SIM")),
        next: t("Give the customer the SIM card; the number works once it is inserted."),
        printed: { ...printed, simLabel: t("SIM"), receipt },
      });
    }).finally(() => busy(button, false));
  });

  // --- services for the verified owner of a number ----------------------------------------------------------

  $("to-service").addEventListener("click", () => {
    const form = $("service-form");
    const service = visit.service;
    const texts = OWNER_SERVICES[service];
    R.text("service-title", t(PURPOSE_TEXT[service]));
    R.text("service-hint", t(texts.hint));
    R.text("service-submit", t(texts.submit));
    // Only the fields this service sends are shown, required and enabled.
    for (const label of form.querySelectorAll("label[data-for]")) {
      const used = label.dataset.for === service;
      label.hidden = !used;
      for (const input of label.querySelectorAll("input")) {
        input.disabled = !used;
        input.required = used;
      }
    }
    R.showState("service");
  });

  $("service-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const button = $("service-submit");
    const texts = OWNER_SERVICES[visit.service];
    busy(button, true);
    R.guard(async () => {
      const body = { msisdn: form.msisdn.value.trim() };
      if (!form.iccid.disabled) body.iccid = form.iccid.value.replace(/\s+/g, "");
      const printed = { number: body.msisdn.replace(/[^0-9]/g, ""), iccid: body.iccid || "" };
      // Resubmitting the same form (after a lost answer) reuses its key, so the server answers with the first
      // receipt; a corrected form is a new request with a new key.
      const request = JSON.stringify(body);
      if (!visit.serviceRequest || visit.serviceRequest.body !== request) {
        visit.serviceRequest = { body: request, key: crypto.randomUUID() };
      }
      const answer = await R.call("POST", "/v1/attempts/" + visit.attemptId + "/" + texts.path, {
        json: body,
        headers: { "Idempotency-Key": visit.serviceRequest.key },
      });
      form.reset();
      // Every owner service answers with a receipt whose number (and SIM) the server has masked.
      showReceipt({
        title: t(texts.title),
        happened: texts.happened(answer.number, answer),
        rows: receiptRows(answer, t(texts.simLabel)),
        next: t(texts.next),
        printed: { ...printed, simLabel: t(texts.simLabel), receipt: answer },
      });
    }).finally(() => busy(button, false));
  });


  // --- receipts ---------------------------------------------------------------------------------------------

  // The receipt of a visit done before a reload, as the server kept it: masked on the screen; the printed copy has
  // the full number and SIM the server kept encrypted for this clerk's visit (``printed``; masked if it is gone).
  function showKeptReceipt(purpose, receipt, full) {
    const texts = purpose === "register" ? null : OWNER_SERVICES[purpose];
    const simLabel = t(texts ? texts.simLabel : "SIM");
    showReceipt({
      title: t(texts ? texts.title : "Registered"),
      happened: texts
        ? texts.happened(receipt.number, receipt)
        : t("Number {number} is registered to the customer.", { number: receipt.number }),
      rows: receiptRows(receipt, simLabel),
      next: t(texts ? texts.next : "Give the customer the SIM card; the number works once it is inserted."),
      printed: {
        number: full ? full.number : receipt.number,
        iccid: full ? full.iccid : receipt.iccid,
        simLabel,
        receipt,
      },
    });
  }

  function receiptRows(receipt, simLabel) {
    const rows = [
      [t("Number"), receipt.number],
      [t("Number is now"), t(receipt.number_state)],
    ];
    if (receipt.cooling_until) rows.push([t("Offered again after"), R.formatTime(receipt.cooling_until)]);
    return rows.concat([
      [simLabel, receipt.iccid],
      [t("Outlet"), receipt.outlet],
      [t("Numbers held under this ID"), String(receipt.numbers_held_under_this_id)],
      [t("Issued"), R.formatTime(receipt.issued_at)],
      [t("Reference"), receipt.attempt_id],
    ]);
  }

  // A reference the customer can read out: the attempt id's first 12 characters in groups of four.
  function shortReference(attemptId) {
    return attemptId.replace(/[^0-9a-zA-Z]/g, "").slice(0, 12).toUpperCase().match(/.{1,4}/g).join("-");
  }

  // The printed receipt: full number and SIM (from what this page sent; the API answers masked), a short
  // reference, outlet, clerk code and time on the store's clock.
  function fillPrintedReceipt(title, printed) {
    const receipt = printed.receipt;
    R.text("printed-what", title);
    const rows = [
      [t("Number"), printed.number],
      [t("Number is now"), t(receipt.number_state)],
    ];
    if (printed.iccid) rows.push([printed.simLabel, printed.iccid]);
    rows.push(
      [t("Outlet"), receipt.outlet],
      [t("Clerk code"), sessionStorage.getItem("realname.who.code") || ""],
      [t("Issued"), R.formatTime(receipt.issued_at)],
      [t("Reference"), shortReference(receipt.attempt_id)]
    );
    const list = $("printed-rows");
    list.replaceChildren();
    for (const [label, value] of rows) {
      const term = document.createElement("dt");
      term.textContent = label;
      const detail = document.createElement("dd");
      detail.textContent = value;
      list.append(term, detail);
    }
  }

  for (const id of ["print-a4", "print-80mm"]) {
    $(id).addEventListener("click", () => {
      document.documentElement.dataset.paper = $(id).dataset.paper;
      window.print();
    });
  }

  function showReceipt({ title, happened, rows, next, printed }) {
    fillPrintedReceipt(title, printed);
    R.text("receipt-title", title);
    R.text("receipt-what", happened);
    R.text("receipt-next", t("Next: {step}", { step: next }));
    const list = $("receipt");
    list.replaceChildren();
    for (const [label, value] of rows) {
      const term = document.createElement("dt");
      term.textContent = label;
      const detail = document.createElement("dd");
      detail.textContent = value;
      list.append(term, detail);
    }
    R.showState("receipt");
  }

  $("same-customer").addEventListener("click", () =>
    R.guard(async () => {
      await closeVisit();
      endVisit({ sameCustomer: true });
    })
  );
  for (const id of ["next-customer", "numbers-end", "sim-end"]) {
    $(id).addEventListener("click", () =>
      R.guard(async () => {
        await closeVisit();
        resetVisit();
      })
    );
  }
  // A declined consent goes on with a reviewer and the customer in person: the attempt stays open for them.
  for (const id of ["manual-next", "ended-next"]) $(id).addEventListener("click", resetVisit);

  // --- this kiosk as an enrolled terminal (terminal.js) ------------------------------------------------------

  const T = window.RealnameTerminal;

  // data-key on the element says a key is shown (tests wait for it).
  function showPublicKey(key) {
    R.text("terminal-public-key", key || t("(none yet)"));
    if (key) $("terminal-public-key").dataset.key = "shown";
    else delete $("terminal-public-key").dataset.key;
  }

  async function showTerminalSetup() {
    showPublicKey(await T.publicKey());
    $("terminal-form").terminal_id.value = T.terminalId();
    R.showState("terminal_setup");
  }

  $("terminal-create").addEventListener("click", () =>
    R.guard(async () => {
      showPublicKey(await T.createKey());
    })
  );
  $("terminal-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    R.guard(async () => {
      if (!(await T.publicKey())) throw new R.PageError("terminal.key_missing", t("Make this kiosk's key first."));
      T.setTerminalId(form.terminal_id.value);
      R.text("terminal-id", T.terminalId());
      if (R.hasToken()) R.guard(resumeVisit);
      else R.showState("signin");
    });
  });
  $("terminal-setup").addEventListener("click", () => R.guard(showTerminalSetup));

  // --- boot -------------------------------------------------------------------------------------------------

  showDeviceId();
  R.text("terminal-id", T.terminalId() || t("not enrolled"));
  T.enrolled().then((ready) => {
    if (!ready) return showTerminalSetup();
    if (!R.hasToken()) return R.showState("signin");
    // The page stays "loading" until the server says where the visit is (the start screen when there is none).
    R.guard(resumeVisit).then(() => R.currentState() === "loading" && R.showState("start"));
  });
})();
