// The store kiosk: one customer visit from the clerk's sign-in to the receipt.
// Every screen is a <section data-screen>; <main data-state> names the one shown, so tests wait for it.
// The page only calls the API and shows its answers; every decision is the server's.
"use strict";

(function () {
  const R = window.Realname;
  const $ = (id) => document.getElementById(id);

  // Recording length: about 4.5 s per requested action after a short lead-in, never more than 10 s.
  const LEAD_IN_SECONDS = 1;
  const SECONDS_PER_ACTION = 4.5;
  const MAX_RECORDING_SECONDS = 10;

  const REASON_TEXT = {
    "id.format": "The number does not have the layout of this document type.",
    "id.check_digit": "The check digit does not match: a digit was probably mistyped.",
    "id.region_unknown": "The region code in the number does not exist.",
    "id.region_not_allowed": "Documents from this region are not accepted here.",
    "id.birth_date_invalid": "The birth date in the number is not a real date.",
    "id.birth_date_future": "The birth date is in the future.",
    "id.issue_date_future": "The issue date is in the future.",
    "id.expired": "The document has expired.",
    "id.validity_invalid": "The validity period is not possible for this document.",
    "id.underage": "The customer is below the minimum age for registering a number.",
    "id.nationality_unknown": "The nationality code is not known.",
  };

  const CATEGORY_TEXT = {
    document: "A problem with the ID document.",
    liveness: "The requested movements were not seen clearly, in order, in time.",
    spoof_suspected: "The camera may not be seeing a live person (photo, screen or mask suspected).",
    face_mismatch: "The face does not match the photo on the ID card.",
    capture_quality: "The picture was not good enough: check the light, the distance and that only one face is visible.",
    locked_out: "Too many failed tries with this ID or on this kiosk: try again later or ask for a manual review.",
    policy: "The operator's rules do not allow this registration (for example, the number limit per ID).",
  };

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
      item.textContent = REASON_TEXT[reason] || reason;
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

  function recordingSeconds(actionCount) {
    return Math.min(MAX_RECORDING_SECONDS, LEAD_IN_SECONDS + SECONDS_PER_ACTION * actionCount);
  }

  function pickMimeType() {
    for (const type of ["video/webm;codecs=vp8", "video/webm;codecs=vp9", "video/webm"]) {
      if (window.MediaRecorder && MediaRecorder.isTypeSupported(type)) return type;
    }
    return "";
  }

  async function openCamera() {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
      audio: false,
    });
    const video = $("preview");
    video.srcObject = stream;
    await video.play();
    return stream;
  }

  function closeCamera(stream) {
    if (stream) for (const track of stream.getTracks()) track.stop();
    $("preview").srcObject = null;
  }

  function record(stream, challenge) {
    const total = recordingSeconds(challenge.actions.length);
    const perStep = total / challenge.actions.length;
    const steps = $("steps");
    steps.replaceChildren();
    challenge.prompts.forEach((prompt, i) => {
      const item = document.createElement("li");
      item.textContent = prompt;
      item.dataset.action = challenge.actions[i];
      steps.append(item);
    });
    const mimeType = pickMimeType();
    const recorder = new MediaRecorder(stream, mimeType ? { mimeType } : undefined);
    const chunks = [];
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data && event.data.size) chunks.push(event.data);
    });
    return new Promise((resolve, reject) => {
      recorder.addEventListener("error", (event) => reject(event.error || new Error("recording failed")));
      recorder.addEventListener("stop", () => resolve(new Blob(chunks, { type: recorder.mimeType || "video/webm" })));
      const started = performance.now();
      let shownStep = -1;
      const tick = () => {
        const elapsed = (performance.now() - started) / 1000;
        const step = Math.min(challenge.actions.length - 1, Math.floor(elapsed / perStep));
        if (step !== shownStep) {
          shownStep = step;
          R.text("prompt", challenge.prompts[step]);
          $("prompt").dataset.step = String(step + 1);
          $("prompt").dataset.action = challenge.actions[step];
          [...steps.children].forEach((item, i) => {
            item.className = i < step ? "done" : i === step ? "current" : "";
          });
        }
        R.text("countdown", Math.max(0, total - elapsed).toFixed(0));
        $("record-progress").value = Math.min(100, (100 * elapsed) / total);
        if (elapsed >= total) {
          if (recorder.state !== "inactive") recorder.stop();
          return;
        }
        requestAnimationFrame(tick);
      };
      recorder.start(250);
      $("app").dataset.recording = "on";
      tick();
    }).finally(() => {
      $("app").dataset.recording = "off";
    });
  }

  async function runChallenge() {
    R.text("prompt", "Getting the camera ready…");
    R.text("countdown", "–");
    $("steps").replaceChildren();
    $("record-progress").value = 0;
    R.showState("challenge");
    let stream = null;
    try {
      const challenge = await R.call("POST", "/v1/attempts/" + visit.attemptId + "/challenge");
      stream = await openCamera();
      const clip = await record(stream, challenge);
      closeCamera(stream);
      stream = null;
      R.showState("uploading");
      const form = new FormData();
      form.append("nonce", challenge.nonce);
      form.append("clip", clip, "clip.webm");
      form.append("id_photo", visit.photo, visit.photo.name || "id-photo.jpg");
      const decision = await R.call("POST", "/v1/attempts/" + visit.attemptId + "/liveness", { form });
      showDecision(decision);
    } catch (err) {
      closeCamera(stream);
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
      R.text("decision-category", category ? "Reason: " + (CATEGORY_TEXT[category] || category) + " (" + category + ")" : "");
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
