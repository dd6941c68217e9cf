// Self-service lookup: the subscriber proves who they are (document + consent + face check against the chip
// photo), then sees the records the API returns for their ID and may report a number as not theirs.
// The page holds no rules: it shows what the API answers. <main data-state> names the screen shown.
"use strict";

(function () {
  const R = window.Realname;
  const $ = (id) => document.getElementById(id);
  const visit = { attemptId: null, photo: null, photoUrl: null, consentVersion: null };

  function deviceId() {
    let id = localStorage.getItem("realname.self_device_id");
    if (!id) {
      id = "self-" + crypto.randomUUID().replace(/-/g, "").slice(0, 16);
      localStorage.setItem("realname.self_device_id", id);
    }
    return id;
  }

  async function guarded(work) {
    R.showError(null);
    try {
      await work();
    } catch (err) {
      R.showError(err);
    }
  }

  $("start").addEventListener("click", () =>
    guarded(async () => {
      const session = await R.call("POST", "/v1/self/sessions", { json: { device_id: deviceId() } });
      R.setToken(session.token);
      visit.attemptId = session.attempt.id;
      R.showState("document");
    })
  );

  // --- document and consent ---------------------------------------------------------------------------------

  const documentForm = $("document-form");
  documentForm.id_photo.addEventListener("change", (event) => {
    const file = event.currentTarget.files[0];
    if (visit.photoUrl) URL.revokeObjectURL(visit.photoUrl);
    visit.photo = file || null;
    visit.photoUrl = file ? URL.createObjectURL(file) : null;
    $("photo-preview").src = visit.photoUrl || "";
    $("photo-preview").hidden = !file;
  });
  documentForm.long_term.addEventListener("change", (event) => {
    documentForm.expiry.disabled = event.currentTarget.checked;
  });

  documentForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    guarded(async () => {
      const answer = await R.call("POST", "/v1/attempts/" + visit.attemptId + "/document", {
        json: {
          kind: form.kind.value,
          value: form.value.value.trim(),
          expiry: form.long_term.checked ? "long_term" : form.expiry.value || null,
          birth_date: form.birth_date.value || null,
          sex: form.sex.value || null,
        },
      });
      const check = answer.check;
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
    });
  });

  $("document-again").addEventListener("click", () => R.showState("document"));

  $("to-consent").addEventListener("click", () =>
    guarded(async () => {
      const consent = await R.call("GET", "/v1/consent");
      visit.consentVersion = consent.version;
      R.text("consent-version", consent.version);
      R.text("consent-text", consent.text);
      R.showState("consent");
    })
  );

  function answerConsent(accepted) {
    guarded(async () => {
      const attempt = await R.call("POST", "/v1/attempts/" + visit.attemptId + "/consent", {
        json: { version: visit.consentVersion, accepted },
      });
      if (attempt.state === "manual_review") R.showState("manual_review");
      else await runChallenge();
    });
  }
  $("consent-accept").addEventListener("click", () => answerConsent(true));
  $("consent-decline").addEventListener("click", () => answerConsent(false));

  // --- face check -------------------------------------------------------------------------------------------

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
      showDecision(await R.call("POST", "/v1/attempts/" + visit.attemptId + "/liveness", { form }));
    } catch (err) {
      showDecision(null);
      throw err;
    }
  }

  function showDecision(decision) {
    const passed = decision !== null && decision.passed;
    $("app").dataset.outcome = decision === null ? "error" : passed ? "approved" : "rejected";
    $("decision-verdict").textContent = passed
      ? "It is you: your records are ready"
      : decision === null
        ? "The face check could not be completed"
        : "We could not confirm it is you";
    $("decision-verdict").className = "verdict " + (passed ? "ok" : "bad");
    const category = decision && decision.reason_category;
    $("decision-category").dataset.category = category || "";
    R.text("decision-category", category ? "Reason: " + (R.CATEGORY_TEXT[category] || category) + " (" + category + ")" : "");
    $("to-records").hidden = !passed;
    $("retry-challenge").hidden = passed;
    R.showState("decision");
  }

  $("retry-challenge").addEventListener("click", () => guarded(runChallenge));

  // --- records and "not mine" -------------------------------------------------------------------------------

  function fillTable(id, rows, empty) {
    const body = $(id).querySelector("tbody");
    body.replaceChildren();
    for (const cells of rows) {
      const row = document.createElement("tr");
      for (const value of cells) {
        const cell = document.createElement("td");
        cell.textContent = value === null || value === undefined ? "" : String(value);
        row.append(cell);
      }
      body.append(row);
    }
    if (!rows.length) {
      const row = document.createElement("tr");
      const cell = document.createElement("td");
      cell.colSpan = 4;
      cell.className = "muted";
      cell.textContent = empty;
      row.append(cell);
      body.append(row);
    }
  }

  async function showRecords() {
    const records = await R.call("GET", "/v1/self/records");
    fillTable(
      "numbers-table",
      records.numbers.map((n) => [n.number, n.state, R.formatTime(n.since), n.outlet]),
      "No number is registered under your ID."
    );
    fillTable(
      "attempts-table",
      records.attempts.map((a) => [R.formatTime(a.at), a.outlet, a.purpose, a.outcome || a.state]),
      "No attempt recorded."
    );
    fillTable(
      "accesses-table",
      records.accesses.map((a) => [R.formatTime(a.at), a.actor, a.action, a.outlet || ""]),
      "Nobody has looked at your data."
    );
    R.showState("records");
  }

  $("to-records").addEventListener("click", () => guarded(showRecords));
  $("back-to-records").addEventListener("click", () => guarded(showRecords));

  $("report-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    guarded(async () => {
      const answer = await R.call("POST", "/v1/self/reports", { json: { msisdn: form.msisdn.value.trim() } });
      form.reset();
      R.text(
        "reported-text",
        "The number is now " + answer.number_state + ". A reviewer will look into it; the store that registered it will be asked for its evidence."
      );
      R.showState("reported");
    });
  });

  R.setToken("");
  R.showState("intro");
})();
