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
  const t = R.t;
  const T = window.RealnameTerminal;
  const Reader = window.RealnameReader;
  const NOBODY = {
    attemptId: null,
    photo: null,
    photoUrl: null,
    cardFront: null,
    frontUrl: null,
    consentVersion: null,
    fieldsSha256: null,
    resumeFaceCheck: false,
  };
  const person = { ...NOBODY };
  let page = null;

  function attemptPath(step) {
    return "/v1/attempts/" + person.attemptId + "/" + step;
  }

  // Check the person for this attempt. What was read or typed for the same person before stays in the form.
  function begin(attemptId) {
    person.attemptId = attemptId;
    person.resumeFaceCheck = false;
    delete $("document-form").dataset.then;
    R.showState("document");
    refreshReader();
  }

  // A visit restored after its document and consent (kiosk.js): the card is read again for its chip photo and the
  // same fields, then the face check starts; the document is not sent again. <form data-then="face_check">.
  function resumeFaceCheck(attemptId) {
    begin(attemptId);
    person.resumeFaceCheck = true;
    $("document-form").dataset.then = "face_check";
  }

  function showImage(id, blob, urlKey) {
    if (person[urlKey]) URL.revokeObjectURL(person[urlKey]);
    person[urlKey] = blob ? URL.createObjectURL(blob) : null;
    const img = $(id);
    if (blob) img.src = person[urlKey];
    else img.removeAttribute("src");
    img.hidden = !blob;
  }

  // Forget the person: document details, chip photo, card front and their previews.
  function forget() {
    showImage("photo-preview", null, "photoUrl");
    showImage("front-preview", null, "frontUrl");
    Object.assign(person, NOBODY);
    $("document-form").reset();
    useSource("manual");
  }

  // --- document: read by the card reader, or typed by hand ----------------------------------------------------

  // The card reader's state on the document screen: ready | no_card | unavailable (data-reader says which).
  async function refreshReader() {
    const panel = $("reader-panel");
    try {
      const status = await Reader.status();
      panel.dataset.reader = status.card_present ? "ready" : "no_card";
      R.text(
        "reader-status",
        t(status.card_present ? "Card on the reader." : "Card reader ready: put the ID card on the reader.")
      );
    } catch (err) {
      panel.dataset.reader = "unavailable";
      R.text("reader-status", t("No card reader: enter the details by hand ({code}).", { code: err.code || "reader.failed" }));
    }
  }

  // "reader": the fields are what the chip holds and cannot be edited; "manual": typed, with the chip photo as a file.
  function useSource(source) {
    const form = $("document-form");
    form.dataset.source = source;
    for (const input of form.querySelectorAll("input:not([type=checkbox]):not([type=file]), textarea")) {
      input.readOnly = source === "reader";
    }
    form.kind.disabled = source === "reader";
    form.long_term.disabled = source === "reader";
    form.sex.disabled = source === "reader";
    form.id_photo.disabled = source === "reader";
    form.id_photo.closest("label").hidden = source === "reader";
    R.text(
      "document-source",
      t(source === "reader" ? "Read from the ID card's chip by the card reader." : "Typed by hand from the document.")
    );
    showKind();
  }

  // The number field, or the multi-line machine-readable zone for a passport.
  function showKind() {
    const form = $("document-form");
    const mrz = form.kind.value === "mrz";
    form.querySelector("[data-for-kind=number]").hidden = mrz;
    form.querySelector("[data-for-kind=mrz]").hidden = !mrz;
    form.value.disabled = mrz;
    form.mrz.disabled = !mrz;
    form.mrz.required = mrz;
    // The validity must be given (an end date, or long term), except in a passport's zone, which carries it.
    form.expiry.disabled = form.long_term.checked;
    form.expiry.required = !mrz && !form.long_term.checked;
  }

  function fillFromCard(card) {
    const form = $("document-form");
    form.reset();
    form.kind.value = card.kind || "auto";
    form.value.value = card.id_number;
    form.name.value = card.name;
    form.sex.value = card.sex === "M" || card.sex === "F" ? card.sex : "";
    form.ethnicity.value = card.ethnicity || "";
    form.birth_date.value = card.birth_date;
    form.issued.value = card.valid_from || "";
    form.long_term.checked = card.valid_until === "long_term";
    form.expiry.value = card.valid_until === "long_term" ? "" : card.valid_until;
    form.address.value = card.address || "";
    form.issuing_authority.value = card.issuing_authority || "";
  }

  async function readCard() {
    const panel = $("reader-panel");
    panel.dataset.reader = "reading";
    let card;
    try {
      card = await Reader.readCard();
    } catch (err) {
      panel.dataset.reader = "failed";
      throw err;
    }
    fillFromCard(card);
    person.photo = card.portrait;
    showImage("photo-preview", card.portrait, "photoUrl");
    useSource("reader");
    // The card front from the document camera: a second, sharper reference; the check goes on without one.
    person.cardFront = null;
    try {
      person.cardFront = await Reader.captureFront();
    } catch (err) {
      person.cardFront = null;
    }
    showImage("front-preview", person.cardFront, "frontUrl");
    panel.dataset.reader = "read";
    R.text("reader-status", t(person.cardFront ? "Card read; card front captured." : "Card read (no card-front image)."));
  }

  function documentBody(form) {
    const mrz = form.kind.value === "mrz";
    const lines = form.mrz.value
      .split(/\r?\n/)
      .map((line) => line.replace(/\s+/g, "").toUpperCase())
      .filter(Boolean);
    return {
      kind: form.kind.value,
      value: mrz ? lines.join("\n") : form.value.value.trim(),
      expiry: form.long_term.checked ? "long_term" : form.expiry.value || null,
      issued: form.issued.value || null,
      birth_date: form.birth_date.value || null,
      sex: form.sex.value || null,
      name: form.name.value.trim() || null,
    };
  }

  function wireDocument() {
    const form = $("document-form");
    form.id_photo.addEventListener("change", (event) => {
      const file = event.currentTarget.files[0];
      person.photo = file || null;
      showImage("photo-preview", person.photo, "photoUrl");
    });
    form.long_term.addEventListener("change", showKind);
    form.kind.addEventListener("change", showKind);
    $("read-card").addEventListener("click", () => R.guard(readCard));
    $("manual-entry").addEventListener("click", () => {
      form.reset();
      person.photo = null;
      person.cardFront = null;
      showImage("photo-preview", null, "photoUrl");
      showImage("front-preview", null, "frontUrl");
      useSource("manual");
      form.value.focus();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      R.guard(async () => {
        if (!person.photo) throw new R.PageError("document.photo_missing", t("Read the card, or choose the chip photo."));
        // What the card reader read, signed by this kiosk's terminal key (terminal.js).
        const body = documentBody(form);
        person.fieldsSha256 = await T.fieldsSha256(body);
        if (person.resumeFaceCheck) {
          person.resumeFaceCheck = false;
          delete form.dataset.then;
          return runChallenge();
        }
        const headers = await T.readerHeaders(person.attemptId, person.fieldsSha256, null);
        const answer = await R.call("POST", attemptPath("document"), { json: body, headers });
        showDocumentCheck(answer.check);
      });
    });
    $("document-again").addEventListener("click", () => R.showState("document"));
    useSource("manual");
  }

  function showDocumentCheck(check) {
    const list = $("document-reasons");
    list.replaceChildren();
    for (const reason of check.reasons) {
      const item = document.createElement("li");
      item.textContent = R.REASON_TEXT[reason] ? t(R.REASON_TEXT[reason]) : reason;
      item.dataset.reason = reason;
      list.append(item);
    }
    $("document-verdict").textContent = t(check.valid ? "Document accepted" : "Document not accepted");
    $("document-verdict").className = "verdict " + (check.valid ? "ok" : "bad");
    $("to-consent").hidden = !check.valid;
    R.showState("document_result");
  }

  // --- consent ----------------------------------------------------------------------------------------------

  function wireConsent() {
    $("to-consent").addEventListener("click", () =>
      R.guard(async () => {
        const consent = await R.call("GET", "/v1/consent?lang=" + encodeURIComponent(window.RealnameI18n.lang()));
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

  // The camera opens first, with the framing guide (framing.js); the challenge is drawn only once the customer
  // is framed and Start is pressed, so a camera that fails never burns one. A camera failure stays on this
  // screen with its own message and a "try again".
  async function runChallenge() {
    RealnameCapture.reset();
    R.showState("challenge");
    RealnameFraming.showCameraProblem(null);
    let stream = null;
    try {
      try {
        stream = await RealnameCapture.open();
      } catch (err) {
        RealnameFraming.showCameraProblem(err);
        throw err;
      }
      await RealnameFraming.untilReady(RealnameCapture.video(), attemptPath("framing"));
      // The recording gets a freshly opened camera, started with the first prompt (as the clip's analysis and
      // the browser tests' looping clips expect); the preview's stream is let go meanwhile.
      RealnameCapture.close(stream);
      stream = null;
      const challenge = await R.call("POST", attemptPath("challenge"));
      showDecision(await streamAnswer(challenge, null));
    } catch (err) {
      if (err && err.code === RealnameFraming.LEFT) return; // the page moved on: nothing to show here
      if (!String(err && err.code).startsWith("camera.")) showDecision(null);
      throw err;
    } finally {
      RealnameCapture.close(stream);
    }
  }

  // The clip goes to the server in pieces while it is recorded (POST …/liveness/streams with the signed chip
  // photo, then PUT …/chunks/{seq} one after the other, then …/end), so the decision follows the last piece
  // at once. A piece is sent only once the previous one was answered; the first failure stops the stream.
  // Open the stream with the chip photo and, when there is one, the document camera's card front. A card front
  // whose printed portrait cannot be found is refused before the challenge is used: then the chip photo decides.
  async function openStream(form, cardFront) {
    if (cardFront) form.set("card_front", cardFront, "card-front.jpg");
    else form.delete("card_front");
    // The kiosk signs the card front with the chip photo (realname.reader.v2), so only what its reader and
    // document camera delivered is taken.
    const headers = await T.readerHeaders(person.attemptId, person.fieldsSha256, person.photo, cardFront);
    try {
      return await R.call("POST", attemptPath("liveness/streams"), { form, headers });
    } catch (err) {
      if (cardFront && err instanceof R.ApiError && err.code === "document.portrait_not_found") {
        return openStream(form, null);
      }
      throw err;
    }
  }

  async function streamAnswer(challenge, stream) {
    const form = new FormData();
    form.append("nonce", challenge.nonce);
    form.append("id_photo", person.photo, person.photo.name || "id-photo.jpg");
    const opened = await openStream(form, person.cardFront);
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
    await RealnameCapture.capture(challenge, send, stream);
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
    verdict.textContent = t(page.verdicts[passed ? "passed" : decision === null ? "error" : "rejected"]);
    verdict.className = "verdict " + (passed ? "ok" : "bad");
    const category = decision && decision.reason_category;
    $("decision-category").dataset.category = category || "";
    const reason = category ? (R.CATEGORY_TEXT[category] ? t(R.CATEGORY_TEXT[category]) : category) + " (" + category + ")" : "";
    R.text("decision-category", reason ? t("Reason: {reason}", { reason }) : "");
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
    $("camera-retry").addEventListener("click", () => R.guard(runChallenge));
  }

  window.RealnameVerification = { setup, begin, resumeFaceCheck, forget, showDecision };
})();
