// Self-service lookup at home: the subscriber proves who they are with their ID number, their name and a one-time
// code sent to a number already registered under that ID (never with a photo: a photo the caller uploads proves
// nothing), then sees the records the API returns for their ID and may report a number as not theirs.
// The page holds no rules: it shows what the API answers. <main data-state> names the screen shown.
"use strict";

(function () {
  const R = window.Realname;
  const $ = (id) => document.getElementById(id);
  const t = R.t;
  const session = { attemptId: null, name: null };

  $("start").addEventListener("click", () =>
    R.guard(async () => {
      const started = await R.withDeviceId("realname.self_device_id", "self", (device_id) =>
        R.call("POST", "/v1/self/sessions", { json: { device_id } })
      );
      R.setToken(started.token);
      session.attemptId = started.attempt.id;
      R.showState("identify");
    })
  );

  async function requestCode() {
    const asked = await R.call("POST", "/v1/self/code", { json: { name: session.name } });
    R.text(
      "code-sent",
      t(
        "If your ID and name match our records, we sent a 6-digit code by SMS to a number registered under your ID. It is valid until {time}.",
        { time: R.formatTime(asked.expires_at) }
      )
    );
    R.text("code-result", "");
    $("code-form").reset();
    R.showState("code");
  }

  $("identify-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    R.guard(async () => {
      const answer = await R.call("POST", "/v1/attempts/" + session.attemptId + "/document", {
        json: { kind: form.kind.value, value: form.value.value.trim() },
      });
      const list = $("identify-reasons");
      list.replaceChildren();
      if (!answer.check.valid) {
        for (const reason of answer.check.reasons) {
          const item = document.createElement("li");
          item.textContent = R.REASON_TEXT[reason] ? t(R.REASON_TEXT[reason]) : reason;
          item.dataset.reason = reason;
          list.append(item);
        }
        return;
      }
      session.name = form.name.value.trim();
      await requestCode();
    });
  });

  $("code-again").addEventListener("click", () => R.guard(requestCode));

  $("code-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    R.guard(async () => {
      const checked = await R.call("POST", "/v1/self/code/verify", { json: { code: form.code.value.trim() } });
      if (checked.passed) return showRecords();
      if (checked.tries_left <= 0) return R.showState("code_failed");
      R.text("code-result", t("Wrong code. Tries left: {count}", { count: checked.tries_left }));
      $("code-result").className = "verdict bad";
    });
  });

  // --- records and "not mine" -------------------------------------------------------------------------------

  function fillTable(id, rows, empty) {
    const body = $(id).querySelector("tbody");
    body.replaceChildren();
    for (const cells of rows) {
      const row = document.createElement("tr");
      const labels = [...$(id).querySelectorAll("thead th")].map((th) => th.textContent.trim());
      for (const [i, value] of cells.entries()) {
        const cell = document.createElement("td");
        if (labels[i]) cell.dataset.label = labels[i];
        if (value instanceof Node) cell.append(value);
        else cell.textContent = value === null || value === undefined ? "" : String(value);
        row.append(cell);
      }
      body.append(row);
    }
    if (!rows.length) {
      const row = document.createElement("tr");
      const cell = document.createElement("td");
      cell.colSpan = $(id).querySelectorAll("thead th").length;
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
      records.numbers.map((n) => [n.number, t(n.state), R.formatTime(n.since), n.outlet, numberActions(n)]),
      t("No number is registered under your ID.")
    );
    fillTable(
      "lockouts-table",
      records.lockouts.map((k) => [R.formatTime(k.locked_from), R.formatTime(k.locked_until), k.active ? t("locked") : ""]),
      t("No lock-out on your ID.")
    );
    fillTable(
      "attempts-table",
      records.attempts.map((a) => [
        R.formatTime(a.at),
        a.outlet,
        t(a.purpose),
        a.spoof_suspected ? flagged(t(a.outcome || a.state), t("A spoof was suspected (photo or screen)")) : t(a.outcome || a.state),
      ]),
      t("No attempt recorded.")
    );
    fillTable(
      "accesses-table",
      records.accesses.map((a) => [R.formatTime(a.at), who(a.actor), t(a.action), a.outlet || ""]),
      t("Nobody has looked at your data.")
    );
    await showChecks();
    R.showState("records");
  }

  // --- relying parties' checks on my numbers --------------------------------------------------------------

  function actionButton(label, className, data, action) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = className;
    Object.assign(button.dataset, data);
    button.textContent = label;
    button.addEventListener("click", () => R.guard(action));
    return button;
  }

  // Who acted, in plain words: staff are shown as staff of the outlet (the outlet column), never by an internal id.
  function who(actor) {
    if (actor.startsWith("staff:")) return t("Staff");
    if (actor.startsWith("self:")) return t("You");
    if (actor.startsWith("party:")) return t("Bank or platform");
    return t("The operator's system");
  }

  // An outcome with a warning beside it (suspected fraud with the subscriber's ID).
  function flagged(outcome, warning) {
    const span = document.createElement("span");
    const note = document.createElement("strong");
    note.className = "flag";
    note.dataset.flag = "spoof_suspected";
    note.textContent = warning;
    span.append(outcome + " · ", note);
    return span;
  }

  function group(...nodes) {
    const span = document.createElement("span");
    span.append(...nodes.filter((n) => n));
    return span;
  }

  async function showChecks() {
    const mine = await R.call("GET", "/v1/self/checks");
    fillTable(
      "checks-table",
      mine.checks.map((c) => [
        R.formatTime(c.at),
        c.party_name,
        c.purpose,
        t(c.kind),
        c.number,
        t(c.result),
        c.consent_reference,
        group(
          c.reported
            ? document.createTextNode(t("reported"))
            : actionButton(t("Unwanted"), "unwanted", { check: c.id }, async () => {
                await R.call("POST", "/v1/self/checks/" + encodeURIComponent(c.id) + "/report");
                await showChecks();
              }),
          actionButton(t("Block {party}", { party: c.party_name }), "block-party", { party: c.party }, async () => {
            await R.call("POST", "/v1/self/check-blocks", { json: { party: c.party } });
            await showChecks();
          })
        ),
      ]),
      t("No bank or platform has checked your numbers.")
    );
    fillTable(
      "blocks-table",
      mine.blocks.map((b) => [
        R.formatTime(b.since),
        b.number ? t("all checks on {number}", { number: b.number }) : t("all checks by {party}", { party: b.party_name || b.party }),
        actionButton(t("Lift"), "lift-block", { block: b.id }, async () => {
          await R.call("DELETE", "/v1/self/check-blocks/" + encodeURIComponent(b.id));
          await showChecks();
        }),
      ]),
      t("No blocks.")
    );
  }

  function numberActions(number) {
    return group(
      notMineButton(number),
      actionButton(t("Block checks"), "block-number", { ref: number.ref, number: number.number }, async () => {
        await R.call("POST", "/v1/self/check-blocks", { json: { number_ref: number.ref } });
        await showChecks();
      })
    );
  }

  $("back-to-records").addEventListener("click", () => R.guard(showRecords));

  // The server names each number by an opaque ref: the page never needs the number in clear.
  function notMineButton(number) {
    if (number.state !== "active") return "";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "not-mine";
    button.dataset.ref = number.ref;
    button.dataset.number = number.number;
    button.textContent = t("Not mine");
    button.addEventListener("click", () => confirmNotMine(number));
    return button;
  }

  // "Not mine" asks first: a confirmed report suspends the number, for whoever uses it.
  let pendingReport = null;

  function confirmNotMine(number) {
    pendingReport = number.ref;
    R.text("not-mine-number", number.number);
    R.showState("confirm_not_mine");
  }

  $("not-mine-cancel").addEventListener("click", () => {
    pendingReport = null;
    R.showState("records");
  });
  $("not-mine-confirm").addEventListener("click", () => {
    if (pendingReport) reportNotMine(pendingReport);
    pendingReport = null;
  });

  function reportNotMine(ref) {
    R.guard(async () => {
      const answer = await R.call("POST", "/v1/self/reports", { json: { number_ref: ref } });
      R.text(
        "reported-text",
        t(
          "Report received. A reviewer will ask the store that registered the number for its evidence; the number is suspended once the report is confirmed. It is {state} now.",
          { state: t(answer.number_state) }
        )
      );
      R.showState("reported");
    });
  }

  R.setToken("");
  R.showState("intro");
})();
