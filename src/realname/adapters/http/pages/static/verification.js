// The identity check at the store kiosk: the ID document and its check, biometric consent, then the face check
// (challenge, capture, upload) that ends in the API's decision. What the card reader read (the document fields,
// the chip photo) goes out signed by this kiosk's enrolled terminal key (terminal.js).
// It drives the screens of verification.html and, on the page's own decision screen, the elements
// decision-verdict, decision-category and retry-challenge. The page says which attempt is checked, the verdict
// wording, and what follows a decision. Every verdict is the server's; nothing is decided here.
"use strict";

(function () {
  const R = window.Realname;
  const $ = (id) => document.getElementById(id);
  const T = window.RealnameTerminal;
  const person = { attemptId: null, photo: null, photoUrl: null, consentVersion: null, fieldsSha256: null };
  let page = null;

  function attemptPath(step) {
    return "/v1/attempts/" + person.attemptId + "/" + step;
  }

  // Check the person for this attempt. What was typed for the same person before stays in the form.
  function begin(attemptId) {
    person.attemptId = attemptId;
    R.showState("document");
  }

  // Forget the person: document details, chip photo and its preview.
  function forget() {
    if (person.photoUrl) URL.revokeObjectURL(person.photoUrl);
    Object.assign(person, { attemptId: null, photo: null, photoUrl: null, consentVersion: null, fieldsSha256: null });
    const form = $("document-form");
    form.reset();
    form.expiry.disabled = false;
    $("photo-preview").hidden = true;
    $("photo-preview").removeAttribute("src");
  }

  // --- document ---------------------------------------------------------------------------------------------

  function wireDocument() {
    const form = $("document-form");
    form.id_photo.addEventListener("change", (event) => {
      const file = event.currentTarget.files[0];
      if (person.photoUrl) URL.revokeObjectURL(person.photoUrl);
      person.photo = file || null;
      person.photoUrl = file ? URL.createObjectURL(file) : null;
      $("photo-preview").src = person.photoUrl || "";
      $("photo-preview").hidden = !file;
    });
    form.long_term.addEventListener("change", (event) => {
      form.expiry.disabled = event.currentTarget.checked;
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      R.guard(async () => {
        // What the card reader read, signed by this kiosk's terminal key (terminal.js).
        const body = {
          kind: form.kind.value,
          value: form.value.value.trim(),
          expiry: form.long_term.checked ? "long_term" : form.expiry.value || null,
          birth_date: form.birth_date.value || null,
          sex: form.sex.value || null,
          name: form.name.value.trim() || null,
        };
        person.fieldsSha256 = await T.fieldsSha256(body);
        const headers = await T.readerHeaders(person.attemptId, person.fieldsSha256, null);
        const answer = await R.call("POST", attemptPath("document"), { json: body, headers });
        showDocumentCheck(answer.check);
      });
    });
    $("document-again").addEventListener("click", () => R.showState("document"));
  }

  function showDocumentCheck(check) {
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

  // --- consent ----------------------------------------------------------------------------------------------

  function wireConsent() {
    $("to-consent").addEventListener("click", () =>
      R.guard(async () => {
        const consent = await R.call("GET", "/v1/consent");
        person.consentVersion = consent.version;
        R.text("consent-version", consent.version);
        R.text("consent-text", consent.text);
        R.showState("consent");
      })
    );
    const answer = (accepted) =>
      R.guard(async () => {
        const attempt = await R.call("POST", attemptPath("consent"), {
          json: { version: person.consentVersion, accepted },
        });
        if (attempt.state === "manual_review") page.onManualReview(attempt);
        else await runChallenge();
      });
    $("consent-accept").addEventListener("click", () => answer(true));
    $("consent-decline").addEventListener("click", () => answer(false));
  }

  // --- face check: challenge, capture, upload, decision -----------------------------------------------------

  async function runChallenge() {
    RealnameCapture.reset();
    R.showState("challenge");
    try {
      const challenge = await R.call("POST", attemptPath("challenge"));
      showDecision(await streamAnswer(challenge));
    } catch (err) {
      showDecision(null);
      throw err;
    }
  }

  // The clip goes to the server in pieces while it is recorded (POST …/liveness/streams with the signed chip
  // photo, then PUT …/chunks/{seq} one after the other, then …/end), so the decision follows the last piece
  // at once. A piece is sent only once the previous one was answered; the first failure stops the stream.
  async function streamAnswer(challenge) {
    const form = new FormData();
    form.append("nonce", challenge.nonce);
    form.append("id_photo", person.photo, person.photo.name || "id-photo.jpg");
    const headers = await T.readerHeaders(person.attemptId, person.fieldsSha256, person.photo);
    const opened = await R.call("POST", attemptPath("liveness/streams"), { form, headers });
    const streamPath = attemptPath("liveness/streams/" + opened.stream_id);
    let sent = 0;
    let sending = Promise.resolve();
    let failure = null;
    const send = (piece) => {
      const seq = sent++;
      sending = sending.then(() =>
        failure ? null : R.call("PUT", streamPath + "/chunks/" + seq, { form: piece }).catch((err) => (failure = err))
      );
    };
    await RealnameCapture.capture(challenge, send);
    R.showState("uploading");
    await sending;
    if (failure) throw failure;
    return R.call("POST", streamPath + "/end", { json: { chunks: sent } });
  }

  // decision is the API's answer, or null when the check could not be completed (the error is shown too).
  function showDecision(decision) {
    const passed = decision !== null && decision.passed;
    $("app").dataset.outcome = decision === null ? "error" : passed ? "approved" : "rejected";
    const verdict = $("decision-verdict");
    verdict.textContent = page.verdicts[passed ? "passed" : decision === null ? "error" : "rejected"];
    verdict.className = "verdict " + (passed ? "ok" : "bad");
    const category = decision && decision.reason_category;
    $("decision-category").dataset.category = category || "";
    const reason = category ? (R.CATEGORY_TEXT[category] || category) + " (" + category + ")" : "";
    R.text("decision-category", reason ? "Reason: " + reason : "");
    $("retry-challenge").hidden = passed;
    page.onDecision(decision);
    R.showState("decision");
  }

  // page: {verdicts: {passed, rejected, error}, onManualReview(attempt), onDecision(decision or null)}.
  function setup(pageHooks) {
    page = pageHooks;
    wireDocument();
    wireConsent();
    $("retry-challenge").addEventListener("click", () => R.guard(runChallenge));
  }

  window.RealnameVerification = { setup, begin, forget };
})();
