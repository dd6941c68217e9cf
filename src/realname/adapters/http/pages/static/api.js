// Calls to the realname /v1 API shared by the pages, and the page-state switch.
// No business rules here: requests go out as typed, answers come back as the API gives them.
"use strict";

(function () {
  const I = window.RealnameI18n;
  const t = I.t;

  // Readable text for the codes the API answers with (the codes stay visible next to it); English, translated
  // by i18n.js where shown.
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
    "id.mismatch.birth_date": "The birth date read from the card differs from the one in the number.",
    "id.mismatch.sex": "The sex read from the card differs from the one in the number.",
  };

  // The API's error messages are English and may name values; the pages show their own text for known codes.
  const ERROR_TEXT = {
    "zh-CN": {
      "auth.required": "请先登录。",
      "auth.invalid_credentials": "员工编号或密码不正确。",
      "auth.staff_disabled": "该员工账号已停用，请联系管理员。",
      "auth.session_ended": "登录时间已到，请重新输入密码。",
      "auth.locked": "登录失败次数过多，请稍后再试。",
      "auth.token_expired": "登录已过期，请重新登录。",
      "auth.token_invalid": "登录已失效，请重新登录。",
      "auth.idle_timeout": "长时间无操作，请重新输入密码。",
      "auth.password_change_required": "请先设置您自己的密码。",
      "auth.password_wrong": "当前密码不正确。",
      "auth.password_policy": "新密码不符合要求：至少 10 个字符、至少 5 个不同字符，不能与当前密码相同，不能包含员工编号。",
      "page.password_repeat": "两次输入的新密码不一致。",
      "auth.role_forbidden": "您的角色无权进行此操作。",
      "attempt.device_invalid": "本机设备号无效，已重新生成，请再试一次。",
      "attempt.expired": "本次业务已超时，请重新开始。",
      "attempt.not_found": "找不到该业务。",
      "attempt.wrong_state": "本次业务当前不能进行这一步。",
      "challenge.expired": "动作挑战已过期，请重试。",
      "clip.too_large": "视频过大。",
      "image.too_large": "图片过大。",
      "image.unreadable": "图片无法读取。",
      "document.photo_missing": "请读取证件，或选择芯片照片。",
      "document.portrait_not_found": "证件正面图像中找不到照片。",
      "lockout.active": "失败次数过多，暂时锁定，请稍后再试或申请人工复核。",
      "number.unavailable": "该号码已不可用，请另选号码。",
      "number.limit_reached": "该证件名下号码已达上限。",
      "reader.no_card": "读卡器上没有证件。",
      "reader.unavailable": "读卡器不可用。",
      "reader.unreachable": "本机读卡服务无响应。",
      "reader.not_configured": "本终端未配置读卡器。",
      "reader.required": "证件信息必须由已登记终端的读卡器读取。",
      "reader.signature_invalid": "终端签名无效。",
      "terminal.unknown": "本终端未登记。",
      "terminal.revoked": "本终端已被注销。",
      "review.decision_not_allowed": "该类案件不能作出这一决定。",
      "review.same_reviewer": "第二位复核员必须是另一人。",
      "network.unavailable": "无法连接服务，请检查网络后重试。",
      // camera.* are the page's own (capture.js): their texts are translated by i18n.js.
      "page.error": "页面出错了。",
    },
  };

  function errorText(code, message) {
    const texts = ERROR_TEXT[I.lang()] || {};
    return texts[code] || t(message);
  }

  const CATEGORY_TEXT = {
    document: "A problem with the ID document.",
    liveness: "The requested movements were not seen clearly, in order, in time.",
    spoof_suspected: "The camera may not be seeing a live person (photo, screen or mask suspected).",
    face_mismatch: "The face does not match the photo on the ID card.",
    capture_quality: "The picture was not good enough: check the light, the distance and that only one face is visible.",
    locked_out: "Too many failed tries with this ID or on this kiosk: try again later or ask for a manual review.",
    policy: "The operator's rules do not allow this registration (for example, the number limit per ID).",
  };

  class ApiError extends Error {
    constructor(status, code, message, requestId) {
      super(message);
      this.status = status;
      this.code = code;
      this.requestId = requestId;
    }
  }

  // An error the page itself finds (a missing photo, the card reader's answer), with a stable code like the API's.
  class PageError extends Error {
    constructor(code, message) {
      super(message);
      this.code = code;
    }
  }

  // Each page keeps its own token: a clerk's token must never serve the self-service page, nor the reverse.
  const TOKEN_KEY = "realname.token." + (document.documentElement.dataset.page || "kiosk");
  let token = sessionStorage.getItem(TOKEN_KEY) || "";

  function setToken(value) {
    token = value || "";
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  }

  async function call(method, path, { json, form, headers } = {}) {
    const init = { method, headers: Object.assign({}, headers || {}) };
    if (token) init.headers["Authorization"] = "Bearer " + token;
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    } else if (form !== undefined) {
      init.body = form;
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      throw new ApiError(0, "network.unavailable", t("The service cannot be reached. Check the connection and try again."), "");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok) {
      const code = body && body.code ? body.code : "http." + response.status;
      const message = body && body.message ? body.message : t("The service answered {status}.", { status: response.status });
      throw new ApiError(response.status, code, message, body && body.request_id ? body.request_id : "");
    }
    return body;
  }

  function showState(state) {
    const root = document.getElementById("app");
    for (const section of root.querySelectorAll("[data-screen]")) {
      section.hidden = section.dataset.screen !== state;
    }
    root.dataset.state = state;
    window.scrollTo(0, 0);
  }

  function currentState() {
    return document.getElementById("app").dataset.state;
  }

  function showError(err) {
    const banner = document.getElementById("error");
    if (!err) {
      banner.hidden = true;
      banner.textContent = "";
      return;
    }
    const known = err instanceof ApiError || err instanceof PageError || (err && typeof err.code === "string");
    const code = known ? err.code : "page.error";
    const message = errorText(code, known ? err.message : "Something went wrong on this page.");
    const ref = err instanceof ApiError && err.requestId ? " · " + t("ref") + " " + err.requestId : "";
    banner.textContent = message + " (" + code + ref + ")";
    banner.dataset.code = code;
    banner.hidden = false;
  }

  // Run one user action: clear the banner, and show its error there if it fails. A 401 goes to the page's
  // handler first (session.js locks the page and asks for the password; without it the page signs out), so an
  // expired token never leaves a half-working screen.
  let unauthenticated = null;

  function onUnauthenticated(handler) {
    unauthenticated = handler;
  }

  async function guard(work) {
    showError(null);
    try {
      await work();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401 && unauthenticated) unauthenticated(err);
      showError(err);
    }
  }

  // A stable id for this browser, kept in localStorage under storageKey (the API locks out per device). It is
  // written in groups of four ("kiosk-3f9a-0c41-…") so that it never looks like a phone or ID number.
  function deviceId(storageKey, prefix) {
    let id = localStorage.getItem(storageKey);
    if (!id) {
      id = prefix + "-" + crypto.randomUUID().replace(/-/g, "").slice(0, 16).match(/.{4}/g).join("-");
      localStorage.setItem(storageKey, id);
    }
    return id;
  }

  // Call work(deviceId); if the API refuses the id (one stored by an older page), the next call gets a new one.
  async function withDeviceId(storageKey, prefix, work) {
    try {
      return await work(deviceId(storageKey, prefix));
    } catch (err) {
      if (err instanceof ApiError && err.code === "attempt.device_invalid") localStorage.removeItem(storageKey);
      throw err;
    }
  }

  function text(id, value) {
    document.getElementById(id).textContent = value;
  }

  // In the store's time zone and the page's language (i18n.js).
  const formatTime = I.formatTime;

  // The member's own password (POST /v1/auth/password): required after the first sign-in and after a reset (the
  // password just typed is the current one), or chosen from the top bar's "Change password". A dialog over the page,
  // so the screen underneath (a customer's visit) stays as it was. <html data-password="forced|chosen"> while open.
  function passwordDialog({ onChanged, onSignOut }) {
    const bar = document.getElementById("sign-out");
    const button = document.createElement("button");
    button.id = "change-password";
    button.type = "button";
    button.className = "link";
    button.hidden = true;
    button.textContent = t("Change password");
    bar.before(button);

    const overlay = document.createElement("div");
    overlay.id = "password-dialog";
    overlay.className = "lock";
    overlay.hidden = true;
    overlay.setAttribute("role", "dialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.innerHTML =
      '<form id="password-form" class="card" autocomplete="off">' +
      '<h2 id="password-title"></h2><p id="password-why"></p>' +
      '<label id="password-current-field"><span id="password-current-label"></span> <input name="current" type="password" maxlength="256" autocomplete="current-password"></label>' +
      '<label><span id="password-new-label"></span> <input name="new_password" type="password" required maxlength="256" autocomplete="new-password"></label>' +
      '<label><span id="password-repeat-label"></span> <input name="repeat" type="password" required maxlength="256" autocomplete="new-password"></label>' +
      '<p id="password-error" class="error" hidden></p>' +
      '<button type="submit" class="primary" id="password-save"></button> ' +
      '<button type="button" class="link" id="password-cancel"></button>' +
      "</form>";
    document.body.append(overlay);
    const form = overlay.querySelector("form");
    let current = null;

    function render() {
      const forced = document.documentElement.dataset.password === "forced";
      text("password-title", t(forced ? "Choose your password" : "Change password"));
      text(
        "password-why",
        forced
          ? t("Before you start, replace the password you were given with one of your own.")
          : t("Enter your current password and a new one.")
      );
      text("password-current-label", t("Current password"));
      text("password-new-label", t("New password (at least 10 characters)"));
      text("password-repeat-label", t("New password again"));
      text("password-save", t("Save the password"));
      text("password-cancel", t(forced ? "Sign out" : "Cancel"));
    }

    function close() {
      delete document.documentElement.dataset.password;
      overlay.hidden = true;
      form.reset();
      current = null;
    }

    function showProblem(code, message) {
      const problem = document.getElementById("password-error");
      problem.textContent = errorText(code, message) + " (" + code + ")";
      problem.dataset.code = code;
      problem.hidden = false;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (form.new_password.value !== form.repeat.value) {
        return showProblem("page.password_repeat", "The two new passwords differ.");
      }
      try {
        const body = await call("POST", "/v1/auth/password", {
          json: { current_password: current !== null ? current : form.current.value, new_password: form.new_password.value },
        });
        close();
        await onChanged(body);
      } catch (err) {
        form.new_password.value = form.repeat.value = "";
        showProblem(err.code || "page.error", err.message);
      }
    });
    document.getElementById("password-cancel").addEventListener("click", () => {
      const forced = document.documentElement.dataset.password === "forced";
      close();
      if (forced) onSignOut();
    });
    I.onChange(() => {
      button.textContent = t("Change password");
      if (!overlay.hidden) render();
    });

    return {
      open({ forced, current: typed }) {
        current = typed;
        document.documentElement.dataset.password = forced ? "forced" : "chosen";
        render();
        document.getElementById("password-current-field").hidden = typed !== null;
        form.current.required = typed === null;
        document.getElementById("password-error").hidden = true;
        overlay.hidden = false;
        (typed !== null ? form.new_password : form.current).focus();
      },
    };
  }

  // Staff sign-in shared by the kiosk and the review page: the form #signin-form, the #who line and the
  // #sign-out button. whoKey keeps "role · outlet" in sessionStorage; onSignedIn/onSignedOut move the page on.
  let signOutCurrent = null;
  let choosePasswordCurrent = null;

  function staffSession({ whoKey, onSignedIn, onSignedOut }) {
    const $ = (id) => document.getElementById(id);

    function showWho() {
      const role = sessionStorage.getItem(whoKey + ".role");
      const who = sessionStorage.getItem(whoKey) || "";
      text("who", role ? who.replace(role, t(role)) : who);
      $("sign-out").hidden = !token;
      $("change-password").hidden = !token;
    }

    function signOut() {
      setToken("");
      sessionStorage.removeItem(whoKey);
      sessionStorage.removeItem(whoKey + ".role");
      sessionStorage.removeItem(whoKey + ".code");
      showWho();
      document.dispatchEvent(new CustomEvent("realname:signed-out"));
      onSignedOut();
      showState("signin");
    }

    async function signedIn(body) {
      setToken(body.token);
      // The staff code (the kiosk prints it on receipts); session.js keeps the token renewed while the page is used.
      sessionStorage.setItem(whoKey + ".code", body.staff_code);
      document.dispatchEvent(new CustomEvent("realname:signed-in", { detail: body }));
      I.setTimeZone(body.time_zone);
      sessionStorage.setItem(whoKey, body.role + " · " + body.outlet);
      sessionStorage.setItem(whoKey + ".role", body.role);
      showWho();
      await onSignedIn();
    }

    const passwords = passwordDialog({ onChanged: signedIn, onSignOut: () => signOut() });
    choosePasswordCurrent = (typed) => passwords.open({ forced: true, current: typed });

    $("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const form = event.currentTarget;
      guard(async () => {
        const typed = form.password.value;
        const body = await call("POST", "/v1/auth/token", {
          json: { staff_code: form.staff_code.value.trim(), password: typed },
        });
        form.reset();
        if (body.password_change_required) {
          // A new member, or after a reset: the token serves nothing until the member chose their own password.
          setToken(body.token);
          passwords.open({ forced: true, current: typed });
          return;
        }
        await signedIn(body);
      });
    });
    $("sign-out").addEventListener("click", signOut);
    $("change-password").addEventListener("click", () => passwords.open({ forced: false, current: null }));
    onUnauthenticated(signOut);
    signOutCurrent = signOut;
    showWho();
    return { signOut };
  }

  window.Realname = {
    REASON_TEXT,
    CATEGORY_TEXT,
    t,
    ApiError,
    PageError,
    call,
    setToken,
    hasToken: () => Boolean(token),
    showState,
    currentState,
    showError,
    guard,
    onUnauthenticated,
    staffSession,
    signOut: () => signOutCurrent && signOutCurrent(),
    // A sign-in whose answer says password_change_required (the lock's, after a reset): the forced dialog.
    choosePassword: (typed) => choosePasswordCurrent && choosePasswordCurrent(typed),
    errorText,
    deviceId,
    withDeviceId,
    text,
    formatTime,
  };
})();
