// A staff page that stays signed in while it is used and locks when it is not. The token is renewed shortly before
// it expires, if the clerk did something since the last renewal (POST /v1/auth/renew); touches are reported to the
// server while the page sends nothing else (POST /v1/auth/activity): the server refuses every request, renewals
// included, after the idle time without one (auth.idle_timeout: the page locks as idle). After the server's
// idle_lock_minutes without a touch or a key, or when a request finds the token expired anyway, the page locks: the
// token is dropped and the clerk's password is asked again. The lock covers the page without changing it, so the
// customer's visit is where it was once the clerk unlocks. "Sign out" on the lock signs out instead; the visit
// stays on the server and the kiosk resumes it at the clerk's next sign-in (GET /v1/visits/current).
// <html data-locked="idle|expired"> says the page is locked (tests wait for it).
"use strict";

(function () {
  const R = window.Realname;
  const I = window.RealnameI18n;
  const t = R.t;
  // Per page, as the token is (api.js): the kiosk's clerk never unlocks the review page, nor the reverse.
  const KEY = "realname.session." + (document.documentElement.dataset.page || "kiosk");
  const TICK_MS = 5000;
  const MIN_RENEW_MARGIN_MS = 60000;

  let lastActivity = Date.now();
  let lastRenewal = Date.now();
  let renewing = false;

  function saved() {
    try {
      return JSON.parse(sessionStorage.getItem(KEY) || "null");
    } catch (err) {
      return null;
    }
  }

  // What the sign-in (or a renewal) answered: the code to unlock with, the token's expiry and the idle time. The
  // expiry is counted from expires_in on this page's clock, which a store PC may have wrong.
  function remember(body) {
    const now = Date.now();
    const lifetime = Math.max(0, body.expires_in * 1000);
    sessionStorage.setItem(
      KEY,
      JSON.stringify({
        staff_code: body.staff_code,
        expires_at_ms: now + lifetime,
        idle_lock_minutes: body.idle_lock_minutes,
        lifetime_ms: lifetime,
      })
    );
    lastRenewal = now;
  }

  function locked() {
    return Boolean(document.documentElement.dataset.locked);
  }

  // --- the lock --------------------------------------------------------------------------------------------

  const overlay = document.createElement("div");
  overlay.id = "lock";
  overlay.className = "lock";
  overlay.hidden = true;
  overlay.setAttribute("role", "dialog");
  overlay.setAttribute("aria-modal", "true");
  overlay.innerHTML =
    '<form id="lock-form" class="card" autocomplete="off">' +
    '<h2 id="lock-title"></h2><p id="lock-why"></p>' +
    '<p><span id="lock-code-label"></span> <strong id="lock-code"></strong></p>' +
    '<label><span id="lock-password-label"></span> <input name="password" type="password" required maxlength="256" autocomplete="current-password"></label>' +
    '<p id="lock-error" class="error" hidden></p>' +
    '<button type="submit" class="primary" id="lock-unlock"></button> ' +
    '<button type="button" class="link" id="lock-sign-out"></button>' +
    "</form>";
  document.body.append(overlay);
  const $ = (id) => document.getElementById(id);

  function render() {
    const session = saved();
    const reason = document.documentElement.dataset.locked;
    R.text("lock-title", t("Page locked"));
    R.text(
      "lock-why",
      reason === "idle"
        ? t("No activity for {minutes} minutes. Enter your password to go on; the customer's visit is kept.", {
            minutes: session ? session.idle_lock_minutes : "",
          })
        : t("Your sign-in has expired. Enter your password to go on; the customer's visit is kept.")
    );
    R.text("lock-code-label", t("Staff code"));
    R.text("lock-code", session ? session.staff_code : "");
    R.text("lock-password-label", t("Password"));
    R.text("lock-unlock", t("Unlock"));
    R.text("lock-sign-out", t("Sign out"));
  }

  function lock(reason) {
    if (locked() || !saved()) return;
    R.setToken("");
    document.documentElement.dataset.locked = reason;
    render();
    $("lock-error").hidden = true;
    overlay.hidden = false;
    $("lock-form").password.focus();
  }

  function unlock() {
    delete document.documentElement.dataset.locked;
    overlay.hidden = true;
    $("lock-form").reset();
    lastActivity = Date.now();
  }

  $("lock-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const session = saved();
    try {
      const typed = form.password.value;
      const body = await R.call("POST", "/v1/auth/token", {
        json: { staff_code: session.staff_code, password: typed },
      });
      R.setToken(body.token);
      if (body.password_change_required) {
        // Reset by an administrator meanwhile: the member chooses a password before the page goes on.
        unlock();
        R.showError(null);
        R.choosePassword(typed);
        return;
      }
      I.setTimeZone(body.time_zone);
      remember(body);
      unlock();
      R.showError(null);
    } catch (err) {
      form.password.value = "";
      $("lock-error").textContent = R.errorText(err.code, err.message) + " (" + (err.code || "page.error") + ")";
      $("lock-error").dataset.code = err.code || "page.error";
      $("lock-error").hidden = false;
    }
  });

  $("lock-sign-out").addEventListener("click", () => {
    unlock();
    sessionStorage.removeItem(KEY);
    R.signOut();
  });

  // --- activity and renewal --------------------------------------------------------------------------------

  // The server refuses a renewal after the idle time without a request (auth.idle_timeout): while the clerk
  // touches the page and it sends nothing else, it says so at most every REPORT_MS.
  const REPORT_MS = 30000;
  let lastReport = Date.now();

  function touched() {
    if (locked()) return;
    const now = Date.now();
    lastActivity = now;
    if (now - lastReport >= REPORT_MS && R.hasToken() && saved()) {
      lastReport = now;
      R.call("POST", "/v1/auth/activity").catch((err) => {
        // The server found the sign-in idle (a sleeping PC, a page clock that lagged): lock now. Any other
        // failure shows at the next renewal.
        if (err instanceof R.ApiError && err.code === "auth.idle_timeout") lock("idle");
      });
    }
  }

  for (const type of ["pointerdown", "keydown", "touchstart"]) {
    document.addEventListener(type, touched, { capture: true, passive: true });
  }

  async function renew() {
    renewing = true;
    try {
      const body = await R.call("POST", "/v1/auth/renew");
      R.setToken(body.token);
      remember(body);
    } catch (err) {
      if (err instanceof R.ApiError && err.status === 401) lock(err.code === "auth.idle_timeout" ? "idle" : "expired");
      else if (err instanceof R.ApiError && err.status === 403) {
        sessionStorage.removeItem(KEY);
        R.signOut();
        R.showError(err);
      }
      // A network failure is tried again on the next tick.
    } finally {
      renewing = false;
    }
  }

  function tick() {
    const session = saved();
    if (!session || locked() || !R.hasToken() || renewing) return;
    const now = Date.now();
    if (now - lastActivity >= session.idle_lock_minutes * 60000) return lock("idle");
    const left = session.expires_at_ms - now;
    if (left <= 0) return lock("expired");
    const margin = Math.max(MIN_RENEW_MARGIN_MS, session.lifetime_ms / 3);
    if (left <= margin && lastActivity > lastRenewal) renew();
  }

  document.addEventListener("realname:signed-in", (event) => {
    remember(event.detail);
    lastActivity = lastReport = Date.now();
  });
  // A page loaded without a token (a locked page reloaded, a new tab) starts at the sign-in form; the visit is
  // resumed from the server after it.
  if (!R.hasToken()) sessionStorage.removeItem(KEY);
  document.addEventListener("realname:signed-out", () => sessionStorage.removeItem(KEY));
  // A request that finds the token expired (the computer slept, the clock jumped) locks the page instead of
  // signing the clerk out; one the server refused as idle (auth.idle_timeout: every staff request is) locks it as
  // idle.
  R.onUnauthenticated((err) =>
    saved() ? lock(err && err.code === "auth.idle_timeout" ? "idle" : "expired") : R.signOut()
  );
  I.onChange(() => locked() && render());
  setInterval(tick, TICK_MS);

  window.RealnameSession = { lock, tick };
})();
