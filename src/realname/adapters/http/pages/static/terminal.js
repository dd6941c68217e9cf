// This kiosk as an enrolled terminal: its Ed25519 key, made in this browser and never leaving it, and the
// signature over what the card reader read (the ID fields; the chip portrait). The server accepts a chip
// portrait only with this signature (see the README, "Enrolled terminals").
//
// Enrollment (once per kiosk): the page makes a key pair (the private key is not extractable and is kept in
// this browser's IndexedDB) and shows the public key; an admin runs
//   echo PUBLIC_KEY | realname terminal add --outlet BJ-001 --name "Counter 1" --public-key -
// and types the printed terminal id into the page. Clearing the browser's site data removes the key: enroll
// again (and revoke the old terminal id with `realname terminal revoke`).
"use strict";

(function () {
  const DB = "realname-terminal";
  const STORE = "keys";
  const ID_KEY = "realname.terminal_id";
  const ALGORITHM = { name: "Ed25519" };
  const MESSAGE_VERSION = "realname.reader.v1";
  // With the document camera's card front the portrait slot is "sha256(chip):sha256(card front)".
  const MESSAGE_VERSION_WITH_CARD_FRONT = "realname.reader.v2";

  function database() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function stored(mode, work) {
    const db = await database();
    try {
      return await new Promise((resolve, reject) => {
        const request = work(db.transaction(STORE, mode).objectStore(STORE));
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
      });
    } finally {
      db.close();
    }
  }

  const loadKeys = () => stored("readonly", (store) => store.get("pair"));
  const saveKeys = (pair) => stored("readwrite", (store) => store.put(pair, "pair"));

  function base64(bytes) {
    let text = "";
    for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
    return btoa(text);
  }

  function base64url(bytes) {
    return base64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  async function sha256Hex(data) {
    const digest = await crypto.subtle.digest("SHA-256", data);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // A new key pair for this kiosk (replacing any earlier one); returns the public key, base64 of the raw 32 bytes.
  async function createKey() {
    const pair = await crypto.subtle.generateKey(ALGORITHM, false, ["sign", "verify"]);
    await saveKeys(pair);
    localStorage.removeItem(ID_KEY);
    return base64(await crypto.subtle.exportKey("raw", pair.publicKey));
  }

  async function publicKey() {
    const pair = await loadKeys();
    return pair ? base64(await crypto.subtle.exportKey("raw", pair.publicKey)) : null;
  }

  function setTerminalId(id) {
    localStorage.setItem(ID_KEY, id.trim());
  }

  function terminalId() {
    return localStorage.getItem(ID_KEY) || "";
  }

  async function enrolled() {
    return Boolean(terminalId()) && Boolean(await loadKeys());
  }

  // The ID fields as the server hashes them: [kind, value, expiry, issued, birth_date, sex, name], null if absent.
  function fieldsOf(body) {
    return ["kind", "value", "expiry", "issued", "birth_date", "sex", "name"].map((name) =>
      body[name] === undefined || body[name] === null ? (name === "kind" ? "auto" : null) : String(body[name])
    );
  }

  // Headers signing one read for attemptId: the document's fields (portrait null) or, later, the chip portrait
  // (a Blob) with the fields hash of the same card, and the card front (a Blob) when it goes along (v2).
  async function readerHeaders(attemptId, fieldsSha256, portrait, cardFront) {
    const pair = await loadKeys();
    const id = terminalId();
    if (!pair || !id) throw new Error("This kiosk is not enrolled as a terminal.");
    const nonce = base64url(crypto.getRandomValues(new Uint8Array(16)));
    const timestamp = Math.floor(Date.now() / 1000);
    let portraitSha256 = portrait ? await sha256Hex(await portrait.arrayBuffer()) : "";
    if (portrait && cardFront) portraitSha256 += ":" + (await sha256Hex(await cardFront.arrayBuffer()));
    const version = portrait && cardFront ? MESSAGE_VERSION_WITH_CARD_FRONT : MESSAGE_VERSION;
    const message = JSON.stringify([version, id, attemptId, nonce, timestamp, portraitSha256, fieldsSha256]);
    const signature = await crypto.subtle.sign(ALGORITHM, pair.privateKey, new TextEncoder().encode(message));
    const headers = {
      "X-Terminal-Id": id,
      "X-Reader-Nonce": nonce,
      "X-Reader-Timestamp": String(timestamp),
      "X-Reader-Signature": base64url(signature),
    };
    if (portrait) headers["X-Reader-Fields-SHA256"] = fieldsSha256;
    return headers;
  }

  async function fieldsSha256(body) {
    return sha256Hex(new TextEncoder().encode(JSON.stringify(fieldsOf(body))));
  }

  window.RealnameTerminal = { createKey, publicKey, setTerminalId, terminalId, enrolled, fieldsSha256, readerHeaders };
})();
