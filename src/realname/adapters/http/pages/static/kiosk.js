// The store kiosk: one customer visit from the clerk's sign-in to the receipt.
// Every screen is a <section data-screen>; <main data-state> names the one shown, so tests wait for it.
// The page only calls the API and shows its answers; every decision is the server's.
"use strict";

(function () {
  const R = window.Realname;
  const $ = (id) => document.getElementById(id);

  const NEXT_STEP_TEXT = {
    choose_number: "Next: choose a number for the customer.",
    confirm_surrender: "Next: confirm the surrender.",
    scan_new_sim: "Next: scan the new SIM card.",
    confirm_reverification: "Next: confirm the re-verification.",
    view_records: "Next: show the customer their records.",
    retry_or_review: "Next: try again with a new challenge, or end the visit and ask for a manual review.",
  };

  const visit = {
    attemptId: null,
    photo: null,
    photoUrl: null,
    msisdn: null,
    idempotencyKey: null,
    numbersAfter: "",
  };

  function deviceId() {
    let id = localStorage.getItem("realname.device_id");
    if (!id) {
      id = "kiosk-" + crypto.randomUUID().replace(/-/g, "").slice(0, 16);
      localStorage.setItem("realname.device_id", id);
    }
    return id;
  }

  async function guarded(work) {
    R.showError(null);
    try {
      await work();
    } catch (err) {
      if (err instanceof R.ApiError && err.status === 401) {
        signOut();
      }
      R.showError(err);
    }
  }

  function busy(button, on) {
    if (button) button.disabled = on;
  }

  function whoAmI() {
    const who = sessionStorage.getItem("realname.who") || "";
    R.text("who", who);
    $("sign-out").hidden = !R.hasToken();
  }

  function signOut() {
    R.setToken("");
    sessionStorage.removeItem("realname.who");
    whoAmI();
    resetVisit();
    R.showState("signin");
  }

  function resetVisit() {
    if (visit.photoUrl) URL.revokeObjectURL(visit.photoUrl);
    Object.assign(visit, { attemptId: null, photo: null, photoUrl: null, msisdn: null, idempotencyKey: null, numbersAfter: "" });
    $("document-form").reset();
    $("photo-preview").hidden = true;
  }

  // --- sign-in and start ------------------------------------------------------------------------------------

  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    guarded(async () => {
      const body = await R.call("POST", "/v1/auth/token", {
        json: { staff_id: form.staff_id.value.trim(), credential: form.credential.value },
      });
      form.reset();
      R.setToken(body.token);
      sessionStorage.setItem("realname.who", body.role + " · " + body.outlet);
      whoAmI();
      R.showState("start");
    });
  });

  $("sign-out").addEventListener("click", signOut);

  $("start-attempt").addEventListener("click", (event) => {
    const button = event.currentTarget;
    busy(button, true);
    guarded(async () => {
      resetVisit();
      const attempt = await R.call("POST", "/v1/attempts", { json: { purpose: "register", device_id: deviceId() } });
      visit.attemptId = attempt.id;
      R.showState("document");
    }).finally(() => busy(button, false));
  });

  // --- document ---------------------------------------------------------------------------------------------

  $("document-form").id_photo.addEventListener("change", (event) => {
    const file = event.currentTarget.files[0];
    if (visit.photoUrl) URL.revokeObjectURL(visit.photoUrl);
    visit.photo = file || null;
    visit.photoUrl = file ? URL.createObjectURL(file) : null;
    $("photo-preview").src = visit.photoUrl || "";
    $("photo-preview").hidden = !file;
  });

  $("document-form").long_term.addEventListener("change", (event) => {
    $("document-form").expiry.disabled = event.currentTarget.checked;
  });

  $("document-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    guarded(async () => {
      const body = {
        kind: form.kind.value,
        value: form.value.value.trim(),
        expiry: form.long_term.checked ? "long_term" : form.expiry.value || null,
        birth_date: form.birth_date.value || null,
        sex: form.sex.value || null,
      };
      const answer = await R.call("POST", "/v1/attempts/" + visit.attemptId + "/document", { json: body });
      showDocumentResult(answer.check);
    });
  });

  function showDocumentResult(check) {
    const list = $("document-reasons");
    list.replaceChildren();
    for (const reason of check.reasons) {
      const item = document.createElement("li");
      item.textContent = R.REASON_TEXT[reason] || reason;
      item.dataset.reason = reason;
      list.append(item);
    }
    $("document-verdict").textContent = check.valid ? "Document accepted" : "Document not accepted";
    $("document-verdict").className = "verdict " + (check.valid ? "ok" : "bad");
    $("to-consent").hidden = !check.valid;
    R.showState("document_result");
  }

  $("document-again").addEventListener("click", () => R.showState("document"));

  // --- consent ----------------------------------------------------------------------------------------------

  let consentVersion = null;

  $("to-consent").addEventListener("click", () =>
    guarded(async () => {
      const consent = await R.call("GET", "/v1/consent");
      consentVersion = consent.version;
      R.text("consent-version", consent.version);
      R.text("consent-text", consent.text);
      R.showState("consent");
    })
  );

  function answerConsent(accepted) {
    guarded(async () => {
      const attempt = await R.call("POST", "/v1/attempts/" + visit.attemptId + "/consent", {
        json: { version: consentVersion, accepted },
      });
      if (attempt.state === "manual_review") R.showState("manual_review");
      else await runChallenge();
    });
  }

  $("consent-accept").addEventListener("click", () => answerConsent(true));
  $("consent-decline").addEventListener("click", () => answerConsent(false));

  // --- challenge: camera, prompts, recording, upload --------------------------------------------------------

  async function runChallenge() {
    RealnameCapture.reset();
    R.showState("challenge");
    try {
      const challenge = await R.call("POST", "/v1/attempts/" + visit.attemptId + "/challenge");
      const clip = await RealnameCapture.capture(challenge);
      R.showState("uploading");
      const form = new FormData();
      form.append("nonce", challenge.nonce);
      form.append("clip", clip.blob, clip.fileName);
      form.append("id_photo", visit.photo, visit.photo.name || "id-photo.jpg");
      const decision = await R.call("POST", "/v1/attempts/" + visit.attemptId + "/liveness", { form });
      showDecision(decision);
    } catch (err) {
      showDecision(null);
      throw err;
    }
  }

  function showDecision(decision) {
    const verdict = $("decision-verdict");
    const root = $("app");
    if (decision === null) {
      root.dataset.outcome = "error";
      verdict.textContent = "The face check could not be completed";
      verdict.className = "verdict bad";
      R.text("decision-category", "");
      R.text("decision-next", NEXT_STEP_TEXT.retry_or_review);
    } else {
      root.dataset.outcome = decision.passed ? "approved" : "rejected";
      verdict.textContent = decision.passed ? "Verified: the customer is who the ID says" : "Not verified";
      verdict.className = "verdict " + (decision.passed ? "ok" : "bad");
      const category = decision.reason_category;
      $("decision-category").dataset.category = category || "";
      R.text("decision-category", category ? "Reason: " + (R.CATEGORY_TEXT[category] || category) + " (" + category + ")" : "");
      R.text("decision-next", NEXT_STEP_TEXT[decision.next_step] || "");
    }
    const passed = decision !== null && decision.passed;
    $("to-numbers").hidden = !passed;
    $("retry-challenge").hidden = passed;
    R.showState("decision");
  }

  $("retry-challenge").addEventListener("click", () => guarded(runChallenge));

  $("abandon").addEventListener("click", () =>
    guarded(async () => {
      await R.call("POST", "/v1/attempts/" + visit.attemptId + "/abandon");
      resetVisit();
      R.showState("ended");
    })
  );

  // --- number picker, SIM, receipt --------------------------------------------------------------------------

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
      button.addEventListener("click", () => guarded(() => reserve(number.msisdn)));
      item.append(button);
      list.append(item);
    }
    if (!page.numbers.length) {
      const item = document.createElement("li");
      item.className = "muted";
      item.textContent = "No available number matches.";
      list.append(item);
    }
    visit.numbersAfter = page.next_after || "";
    $("numbers-more").hidden = !page.next_after;
    $("numbers-first").hidden = !after;
  }

  $("to-numbers").addEventListener("click", () =>
    guarded(async () => {
      await loadNumbers("");
      R.showState("numbers");
    })
  );
  $("numbers-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(() => loadNumbers(""));
  });
  $("numbers-more").addEventListener("click", () => guarded(() => loadNumbers(visit.numbersAfter)));
  $("numbers-first").addEventListener("click", () => guarded(() => loadNumbers("")));

  async function reserve(msisdn) {
    const held = await R.call("POST", "/v1/attempts/" + visit.attemptId + "/reservation", { json: { msisdn } });
    visit.msisdn = held.msisdn;
    visit.idempotencyKey = crypto.randomUUID();
    R.text("reserved-number", held.msisdn);
    R.text("reserved-until", R.formatTime(held.reserved_until));
    R.showState("sim");
  }

  $("sim-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const button = form.querySelector("button[type=submit]");
    busy(button, true);
    guarded(async () => {
      // The same key on every retry of this completion: the server answers a retry with the first result.
      const receipt = await R.call("POST", "/v1/attempts/" + visit.attemptId + "/registration", {
        json: { msisdn: visit.msisdn, iccid: form.iccid.value.replace(/\s+/g, "") },
        headers: { "Idempotency-Key": visit.idempotencyKey },
      });
      form.reset();
      showReceipt(receipt);
    }).finally(() => busy(button, false));
  });

  function showReceipt(receipt) {
    const rows = [
      ["Number", receipt.number],
      ["SIM", receipt.iccid],
      ["Outlet", receipt.outlet],
      ["Numbers held under this ID", String(receipt.numbers_held_under_this_id)],
      ["Issued", R.formatTime(receipt.issued_at)],
      ["Reference", receipt.attempt_id],
    ];
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

  for (const id of ["next-customer", "manual-next", "ended-next"]) {
    $(id).addEventListener("click", () => {
      resetVisit();
      R.showState("start");
    });
  }

  // --- boot -------------------------------------------------------------------------------------------------

  R.text("device-id", deviceId());
  whoAmI();
  R.showState(R.hasToken() ? "start" : "signin");
})();
