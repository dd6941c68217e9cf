// Calls to the realname /v1 API shared by the pages, and the page-state switch.
// No business rules here: requests go out as typed, answers come back as the API gives them.
"use strict";

(function () {
  class ApiError extends Error {
    constructor(status, code, message, requestId) {
      super(message);
      this.status = status;
      this.code = code;
      this.requestId = requestId;
    }
  }

  let token = sessionStorage.getItem("realname.token") || "";

  function setToken(value) {
    token = value || "";
    if (token) sessionStorage.setItem("realname.token", token);
    else sessionStorage.removeItem("realname.token");
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
      throw new ApiError(0, "network.unavailable", "The service cannot be reached. Check the connection and try again.", "");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!response.ok) {
      const code = body && body.code ? body.code : "http." + response.status;
      const message = body && body.message ? body.message : "The service answered " + response.status + ".";
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

  function showError(err) {
    const banner = document.getElementById("error");
    if (!err) {
      banner.hidden = true;
      banner.textContent = "";
      return;
    }
    const message = err instanceof ApiError ? err.message : "Something went wrong on this page.";
    const code = err instanceof ApiError ? err.code : "page.error";
    const ref = err instanceof ApiError && err.requestId ? " · ref " + err.requestId : "";
    banner.textContent = message + " (" + code + ref + ")";
    banner.dataset.code = code;
    banner.hidden = false;
  }

  function text(id, value) {
    document.getElementById(id).textContent = value;
  }

  function formatTime(iso) {
    if (!iso) return "";
    const when = new Date(iso);
    return isNaN(when.getTime()) ? String(iso) : when.toLocaleString();
  }

  window.Realname = { ApiError, call, setToken, hasToken: () => Boolean(token), showState, showError, text, formatTime };
})();
