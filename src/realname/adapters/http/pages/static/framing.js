// The capture step's "ready?" step: a framing guide with live feedback over the camera preview. Recording starts
// only when the customer is framed (one face, near enough, centred, lit) and the Start button is pressed.
// How the feedback is made, and what leaves the kiosk: the light of the whole picture is measured here, in the
// page; a picture too dark to show a face is reported without sending anything. Otherwise a small copy of the
// current frame (320 px wide, JPEG) goes to this attempt's framing endpoint, after the customer's biometric
// consent, about three times a second; the server answers with one category and keeps nothing of it (no
// storage, no log, no audit). Browsers' own face detection is not available on the kiosk's Chromium.
// Elements: framing-guide (data-framing), framing-text, capture-start, ready-step.
"use strict";

(function () {
  const R = window.Realname;
  const $ = (id) => document.getElementById(id);
  const t = (text) => window.RealnameI18n.t(text);

  const PREVIEW_WIDTH_PX = 320;
  const PAUSE_MILLISECONDS = 300;
  // The mean grey level (0-255) below which the picture is too dark to look for a face at all.
  const DARK_LEVEL = 40;
  const PREVIEW_JPEG_QUALITY = 0.7;
  const LEFT = "capture.left";

  const TEXT = {
    checking: "Checking the picture…",
    ready: "Framed: press Start when the customer is ready.",
    no_face: "No face found: look straight into the camera.",
    multiple_faces: "More than one face: only the customer may be in the picture.",
    too_far: "Too far away: come closer to the camera.",
    too_close: "Too close: move back a little.",
    off_centre: "Move into the middle of the picture, inside the oval.",
    too_dark: "Too dark: face the light, or switch a light on.",
    too_bright: "Too bright: move out of the direct light.",
  };

  function show(framing) {
    $("framing-guide").dataset.framing = framing;
    const line = $("framing-text");
    line.dataset.framing = framing;
    line.textContent = t(TEXT[framing] || TEXT.checking);
    $("capture-start").disabled = framing !== "ready";
  }

  // A small copy of the video's current frame: its mean grey level and, when asked, a JPEG of it.
  function grab(video, canvas) {
    const width = PREVIEW_WIDTH_PX;
    const height = Math.max(1, Math.round((video.videoHeight / Math.max(1, video.videoWidth)) * width));
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(video, 0, 0, width, height);
    const pixels = context.getImageData(0, 0, width, height).data;
    let sum = 0;
    for (let i = 0; i < pixels.length; i += 4) sum += 0.299 * pixels[i] + 0.587 * pixels[i + 1] + 0.114 * pixels[i + 2];
    return sum / (pixels.length / 4);
  }

  function jpeg(canvas) {
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", PREVIEW_JPEG_QUALITY));
  }

  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // A refusal worth waiting out (rate limit, busy service, a network blip); anything else ends the step.
  function passing(err) {
    return err instanceof R.ApiError && (err.status === 0 || err.status === 429 || err.status === 503);
  }

  // Show the guide over the playing video and resolve once Start is pressed while the latest frame is "ready".
  // framingPath is the attempt's POST …/framing. Rejects with the API's error when the step cannot go on.
  function untilReady(video, framingPath) {
    const start = $("capture-start");
    const canvas = document.createElement("canvas");
    let stopped = false;
    $("ready-step").hidden = false;
    $("prompt").hidden = true;
    show("checking");
    return new Promise((resolve, reject) => {
      const finish = (outcome) => {
        stopped = true;
        start.onclick = null;
        $("ready-step").hidden = true;
        $("prompt").hidden = false;
        outcome();
      };
      start.onclick = () => {
        if ($("framing-guide").dataset.framing === "ready") finish(resolve);
      };
      (async () => {
        while (!stopped) {
          if (R.currentState() !== "challenge") {
            // The page moved on (signed out, the visit ended): stop looking and let the camera close.
            finish(() => reject(new R.PageError(LEFT, "The capture step was left.")));
            return;
          }
          if (video.readyState >= 2 && video.videoWidth > 0) {
            const brightness = grab(video, canvas);
            if (brightness < DARK_LEVEL) {
              show("too_dark"); // judged here: this frame is not sent
            } else {
              const form = new FormData();
              form.append("frame", await jpeg(canvas), "frame.jpg");
              try {
                const answer = await R.call("POST", framingPath, { form });
                if (!stopped) show(answer.framing);
              } catch (err) {
                if (!passing(err)) throw err;
                if (!stopped) show("checking");
              }
            }
          }
          await pause(PAUSE_MILLISECONDS);
        }
      })().catch((err) => {
        if (!stopped) finish(() => reject(err));
      });
    });
  }

  // A camera that could not be opened (capture.js's camera.* errors), shown on the capture screen; null hides it.
  function showCameraProblem(err) {
    $("camera-problem").hidden = !err;
    $("app").dataset.camera = err ? err.code : "";
    $("camera-problem-text").textContent = err ? t(err.message) : "";
    $("camera-problem-text").dataset.code = err ? err.code : "";
  }

  window.RealnameFraming = { untilReady, showCameraProblem, TEXT, LEFT };
})();
