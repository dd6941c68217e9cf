// The liveness capture of the kiosk: camera preview, step-by-step prompts with a countdown, and a MediaRecorder
// clip of the unmirrored camera frames. A camera that cannot be opened is a PageError with its own code
// (camera.not_found, camera.denied, camera.busy, camera.failed, camera.unavailable).
// The page element ids it drives: preview, prompt, countdown, steps, record-progress; and <main id="app">,
// whose data-recording is "on" while it records.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  // Recording length: about 4.5 s per requested action after a short lead-in, never more than 10 s.
  const LEAD_IN_SECONDS = 1;
  const SECONDS_PER_ACTION = 4.5;
  const MAX_RECORDING_SECONDS = 10;
  // Passive anti-spoofing reads fine texture. Chromium's VP8 (about 0.7 Mbit/s whatever is asked) smeared a
  // live face enough to be taken for a replay, where H.264 at the same size did not: prefer H.264.
  const RECORDING_BITS_PER_SECOND = 4000000;
  // MediaRecorder's timeslice: the pieces streamed to the server (the last one is analysed after recording stops).
  const CHUNK_MILLISECONDS = 500;
  const RECORDING_TYPES = [
    ["video/webm;codecs=h264", "clip.webm"],
    ["video/mp4;codecs=avc1", "clip.mp4"],
    ["video/webm;codecs=vp9", "clip.webm"],
    ["video/webm;codecs=vp8", "clip.webm"],
    ["video/webm", "clip.webm"],
  ];

  function recordingSeconds(actionCount) {
    return Math.min(MAX_RECORDING_SECONDS, LEAD_IN_SECONDS + SECONDS_PER_ACTION * actionCount);
  }

  function pickRecordingType() {
    for (const [mimeType, fileName] of RECORDING_TYPES) {
      if (window.MediaRecorder && MediaRecorder.isTypeSupported(mimeType)) return { mimeType, fileName };
    }
    return { mimeType: "", fileName: "clip.webm" };
  }

  function reset() {
    $("prompt").textContent = window.RealnameI18n.t("Getting the camera ready…");
    $("prompt").hidden = false;
    $("countdown").textContent = "–";
    $("steps").replaceChildren();
    $("record-progress").value = 0;
  }

  // Why the camera could not be opened, by the DOMException getUserMedia rejects with: a code and an English
  // message that says what to do (zh-CN through i18n.js, like every text of the pages).
  const CAMERA_FAILURES = {
    NotFoundError: ["camera.not_found", "No camera found: connect the kiosk's camera, then try again."],
    OverconstrainedError: ["camera.not_found", "No suitable camera found: connect the kiosk's camera, then try again."],
    NotAllowedError: [
      "camera.denied",
      "The browser is not allowed to use the camera: allow the camera for this page in the browser's site settings, then try again.",
    ],
    SecurityError: [
      "camera.denied",
      "The browser is not allowed to use the camera: allow the camera for this page in the browser's site settings, then try again.",
    ],
    NotReadableError: [
      "camera.busy",
      "The camera is busy or failed to start: close any other program using it (or reconnect it), then try again.",
    ],
    AbortError: [
      "camera.busy",
      "The camera is busy or failed to start: close any other program using it (or reconnect it), then try again.",
    ],
  };
  const CAMERA_FAILED = ["camera.failed", "The camera could not be opened: reconnect it and try again."];
  const NO_CAMERA_API = [
    "camera.unavailable",
    "This page cannot use a camera here: open it over https or on this computer's own address.",
  ];

  function cameraError(err) {
    const [code, message] = (err && CAMERA_FAILURES[err.name]) || CAMERA_FAILED;
    const failure = new window.Realname.PageError(code, message);
    failure.cause = err;
    return failure;
  }

  // Open the camera into the preview; rejects with a PageError whose code is camera.*.
  async function openCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new window.Realname.PageError(NO_CAMERA_API[0], NO_CAMERA_API[1]);
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
        audio: false,
      });
    } catch (err) {
      throw cameraError(err);
    }
    const video = $("preview");
    video.srcObject = stream;
    await video.play();
    return stream;
  }

  function closeCamera(stream) {
    if (stream) for (const track of stream.getTracks()) track.stop();
    $("preview").srcObject = null;
  }

  // onChunk (optional) gets each piece of the recording as MediaRecorder hands it out (every CHUNK_MILLISECONDS),
  // so the page can stream it to the server while the customer is still performing the challenge.
  function record(stream, challenge, onChunk) {
    const total = recordingSeconds(challenge.actions.length);
    const perStep = total / challenge.actions.length;
    const steps = $("steps");
    steps.replaceChildren();
    challenge.prompts.forEach((prompt, i) => {
      const item = document.createElement("li");
      item.textContent = window.RealnameI18n.t(prompt);
      item.dataset.action = challenge.actions[i];
      steps.append(item);
    });
    const { mimeType, fileName } = pickRecordingType();
    const options = { videoBitsPerSecond: RECORDING_BITS_PER_SECOND };
    if (mimeType) options.mimeType = mimeType;
    const recorder = new MediaRecorder(stream, options);
    const chunks = [];
    recorder.addEventListener("dataavailable", (event) => {
      if (!event.data || !event.data.size) return;
      chunks.push(event.data);
      if (onChunk) onChunk(event.data);
    });
    return new Promise((resolve, reject) => {
      recorder.addEventListener("error", (event) => reject(event.error || new Error("recording failed")));
      recorder.addEventListener("stop", () =>
        resolve({ blob: new Blob(chunks, { type: recorder.mimeType || "video/webm" }), fileName })
      );
      const started = performance.now();
      let shownStep = -1;
      const tick = () => {
        const elapsed = (performance.now() - started) / 1000;
        const step = Math.min(challenge.actions.length - 1, Math.floor(elapsed / perStep));
        if (step !== shownStep) {
          shownStep = step;
          $("prompt").textContent = window.RealnameI18n.t(challenge.prompts[step]);
          $("prompt").dataset.step = String(step + 1);
          $("prompt").dataset.action = challenge.actions[step];
          [...steps.children].forEach((item, i) => {
            item.className = i < step ? "done" : i === step ? "current" : "";
          });
        }
        $("countdown").textContent = Math.max(0, total - elapsed).toFixed(0);
        $("record-progress").value = Math.min(100, (100 * elapsed) / total);
        if (elapsed >= total) {
          if (recorder.state !== "inactive") recorder.stop();
          return;
        }
        requestAnimationFrame(tick);
      };
      recorder.start(CHUNK_MILLISECONDS);
      $("app").dataset.recording = "on";
      tick();
    }).finally(() => {
      $("app").dataset.recording = "off";
    });
  }

  // Record the challenge with its prompts; resolves to {blob, fileName}. With an open stream (from open()) the
  // recording uses it and leaves it open; without one the camera is opened for the recording and closed after.
  // onChunk(blob), when given, receives the recording piece by piece while it is made.
  async function capture(challenge, onChunk, openStream) {
    if (openStream) return record(openStream, challenge, onChunk);
    let stream = null;
    try {
      stream = await openCamera();
      return await record(stream, challenge, onChunk);
    } finally {
      closeCamera(stream);
    }
  }

  window.RealnameCapture = { reset, capture, open: openCamera, close: closeCamera, video: () => $("preview") };
})();
