// Review queue: a reviewer lists the open cases the API returns and records a decision with a reason.
// Four-eyes on overrides is the server's rule; the page shows what state the case is in afterwards.
"use strict";

(function () {
  const R = window.Realname;
  const $ = (id) => document.getElementById(id);
  const t = R.t;

  const PARTY_DECISION_TEXT = {
    party_enumeration: {
      suspend_confirmed: "Keep the party suspended",
      reinstate: "Reinstate the party (needs a second reviewer)",
    },
    unwanted_check: { suspend_confirmed: "Suspend the party", reject: "Dismiss the report" },
  };
  const KIND_TEXT = {
    manual_path: "Manual path requested (customer declined the face check)",
    borderline: "Borderline rejection",
    not_mine: "Reported as not mine by the subscriber",
    party_enumeration: "Relying party suspended: its checks looked like enumeration",
    unwanted_check: "A relying party's check reported as unwanted by the subscriber",
    requested: "Review requested by the clerk after a rejection",
    spoof_suspected: "Suspected spoof (photo, screen or mask)",
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
      node.querySelector(".kind").textContent = KIND_TEXT[item.kind] ? t(KIND_TEXT[item.kind]) : item.kind;
      node.querySelector(".state").textContent = STATE_TEXT[item.state] ? t(STATE_TEXT[item.state]) : item.state;
      window.RealnameI18n.apply(node);
      const facts = node.querySelector(".case-facts");
      fact(facts, t("Opened"), R.formatTime(item.opened_at));
      fact(facts, t("Document"), item.document ? (item.document_kind ? t(item.document_kind) + " " : "") + item.document : "");
      fact(facts, t("Reason category"), item.reason_category ? t(R.CATEGORY_TEXT[item.reason_category] || item.reason_category) : "");
      fact(facts, t("Reasons"), (item.reasons || []).join(", "));
      if (item.similarity !== null && item.similarity !== undefined) {
        fact(facts, t("Similarity (reviewers only)"), item.similarity.toFixed(3));
      }
      fact(facts, t("Outlet"), item.outlet);
      fact(facts, t("Clerk"), item.clerk);
      fact(facts, t("Face check at"), R.formatTime(item.decided_at));
      fact(facts, t("Requested by"), item.requested_by);
      fact(facts, t("Clerk's reason"), item.request_reason);
      fact(facts, t("First reviewer's reason"), item.proposed_reason);
      if (item.attempt_id) fact(facts, t("Challenges drawn"), String(item.challenges_issued));
      fact(facts, t("Number"), item.number);
      fact(facts, t("Relying party"), item.party);
      fact(facts, t("Attempt"), item.attempt_id);
      fact(
        facts,
        t("Proposed"),
        item.proposed_decision ? t("{decision} by {who}", { decision: t(item.proposed_decision), who: item.proposed_by }) : ""
      );
      // Only the decisions this kind of case takes, and none chosen in advance.
      const select = node.querySelector("select[name=decision]");
      for (const option of select.querySelectorAll("option[value]:not([value=''])")) {
        if (!(item.allowed_decisions || []).includes(option.value)) option.remove();
      }
      // A relying party's case acts on the party: say so on its decisions.
      const labels = PARTY_DECISION_TEXT[item.kind] || {};
      for (const option of select.querySelectorAll("option[value]:not([value=''])")) {
        if (labels[option.value]) option.textContent = t(labels[option.value]);
      }
      select.value = "";
      node.querySelector("form").addEventListener("submit", (event) => {
        event.preventDefault();
        const form = event.currentTarget;
        R.guard(async () => {
          const decided = await R.call("POST", "/v1/review/cases/" + encodeURIComponent(item.id) + "/decision", {
            json: { decision: form.decision.value, reason: form.reason.value.trim() },
          });
          await loadCases();
          notice(t("Decision recorded: the case is {state}.", { state: t(STATE_TEXT[decided.state] || decided.state) }));
        });
      });
      list.append(node);
    }
    if (!cases.length) {
      const empty = document.createElement("li");
      empty.className = "card muted";
      empty.textContent = t("No open case.");
      list.append(empty);
    }
    R.showState("cases");
  }

  if (R.hasToken()) R.guard(loadCases);
  else R.showState("signin");
})();
