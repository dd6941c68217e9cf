// Review queue: a reviewer lists the open cases the API returns and records a decision with a reason.
// Four-eyes on overrides is the server's rule; the page shows what state the case is in afterwards.
"use strict";

(function () {
  const R = window.Realname;
  const $ = (id) => document.getElementById(id);

  const KIND_TEXT = {
    manual_path: "Manual path requested (customer declined the face check)",
    borderline: "Borderline rejection",
    not_mine: "Reported as not mine by the subscriber",
    party_enumeration: "Relying party suspended: its checks looked like enumeration",
    unwanted_check: "A relying party's check reported as unwanted by the subscriber",
    anomaly: "Anomaly flag (see /reports): confirm (keep suspended) or dismiss (reject)",
  };
  const STATE_TEXT = { open: "open", awaiting_second: "awaiting a second reviewer", closed: "closed", overruled: "closed: the second reviewer refused the override" };

  function notice(message) {
    $("notice").textContent = message;
    $("notice").hidden = !message;
  }

  R.staffSession({
    whoKey: "realname.review_who",
    onSignedIn: () => loadCases(),
    onSignedOut: () => {},
  });
  $("refresh").addEventListener("click", () => R.guard(loadCases));

  function fact(list, label, value) {
    if (value === null || value === undefined || value === "") return;
    const term = document.createElement("dt");
    term.textContent = label;
    const detail = document.createElement("dd");
    detail.textContent = value;
    list.append(term, detail);
  }

  async function loadCases() {
    const cases = await R.call("GET", "/v1/review/cases");
    const list = $("case-list");
    list.replaceChildren();
    for (const item of cases) {
      const node = $("case-template").content.firstElementChild.cloneNode(true);
      node.dataset.caseId = item.id;
      node.dataset.kind = item.kind;
      node.querySelector(".kind").textContent = KIND_TEXT[item.kind] || item.kind;
      node.querySelector(".state").textContent = STATE_TEXT[item.state] || item.state;
      const facts = node.querySelector(".case-facts");
      fact(facts, "Opened", R.formatTime(item.opened_at));
      if (item.attempt_id) fact(facts, "Challenges drawn", String(item.challenges_issued));
      fact(facts, "Number", item.number);
      fact(facts, "Relying party", item.party);
      fact(facts, "Attempt", item.attempt_id);
      fact(facts, "Proposed", item.proposed_decision ? item.proposed_decision + " by " + item.proposed_by : "");
      node.querySelector("form").addEventListener("submit", (event) => {
        event.preventDefault();
        const form = event.currentTarget;
        R.guard(async () => {
          const decided = await R.call("POST", "/v1/review/cases/" + encodeURIComponent(item.id) + "/decision", {
            json: { decision: form.decision.value, reason: form.reason.value.trim() },
          });
          await loadCases();
          notice("Decision recorded: the case is " + (STATE_TEXT[decided.state] || decided.state) + ".");
        });
      });
      list.append(node);
    }
    if (!cases.length) {
      const empty = document.createElement("li");
      empty.className = "card muted";
      empty.textContent = "No open case.";
      list.append(empty);
    }
    R.showState("cases");
  }

  if (R.hasToken()) R.guard(loadCases);
  else R.showState("signin");
})();
