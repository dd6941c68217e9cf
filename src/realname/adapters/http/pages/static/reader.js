// The store PC's reader bridge, protocol realname.reader-bridge.v1 (docs/reader-bridge.md): a local JSON-over-HTTP
// service in front of the ID-card reader and the document camera (高拍仪). Its address is the page's
// <meta name="realname-reader-bridge">, which the server also allows in the page's Content-Security-Policy.
// This module only talks to the bridge and turns its answers into values the page uses; what was read is then
// signed by the terminal (terminal.js) and checked by the server.
"use strict";

(function () {
  const t = window.RealnameI18n.t;
  const PROTOCOL = "realname.reader-bridge.v1";
  const TIMEOUT_MS = 15000;

  class ReaderError extends Error {
    constructor(code, message) {
      super(message);
      this.code = code;
    }
  }

  function bridgeUrl() {
    const meta = document.querySelector('meta[name="realname-reader-bridge"]');
    return meta ? meta.content.replace(/\/+$/, "") : "";
  }

  async function request(method, path) {
    const base = bridgeUrl();
    if (!base) throw new ReaderError("reader.not_configured", t("No card reader is configured for this kiosk."));
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
    let response;
    try {
      const init = { method, signal: controller.signal, cache: "no-store" };
      if (method === "POST") {
        init.headers = { "Content-Type": "application/json" };
        init.body = "{}";
      }
      response = await fetch(base + path, init);
    } catch (err) {
      throw new ReaderError("reader.unreachable", t("The card reader service on this PC does not answer."));
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    if (!body || body.protocol !== PROTOCOL) {
      throw new ReaderError("reader.protocol", t("The card reader service speaks another protocol."));
    }
    if (!response.ok) throw new ReaderError(body.code || "reader.failed", body.message || t("The card reader failed."));
    return body;
  }

  function imageBlob(image) {
    if (!image || !image.base64 || !/^image\/(jpeg|png|webp)$/.test(image.media_type || "")) {
      throw new ReaderError("reader.protocol", t("The card reader sent an image in an unknown form."));
    }
    const raw = atob(image.base64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return new Blob([bytes], { type: image.media_type });
  }

  // {reader: "ready"|..., card_present, document_camera: "ready"|"none"}
  async function status() {
    return request("GET", "/v1/status");
  }

  // The card on the reader: its fields as the bridge gives them, and the chip portrait as a Blob.
  async function readCard() {
    const body = await request("POST", "/v1/card/read");
    const card = body.card || {};
    for (const field of ["id_number", "name", "sex", "birth_date", "valid_until"]) {
      if (!card[field]) throw new ReaderError("reader.protocol", t("The card reader sent a card without {field}.", { field }));
    }
    return Object.assign({}, card, { portrait: imageBlob(card.portrait) });
  }

  // The document camera's image of the card front as a Blob, or null when the counter has no document camera.
  async function captureFront() {
    try {
      const body = await request("POST", "/v1/document-camera/capture");
      return imageBlob(body.image);
    } catch (err) {
      if (err instanceof ReaderError && err.code === "camera.unavailable") return null;
      throw err;
    }
  }

  window.RealnameReader = { PROTOCOL, ReaderError, bridgeUrl, status, readCard, captureFront };
})();
