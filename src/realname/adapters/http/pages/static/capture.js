// The liveness capture shared by the kiosk and the self-service page: camera preview, step-by-step prompts
// with a countdown, and a MediaRecorder clip of the unmirrored camera frames.
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
    $("countdown").textContent = "–";
    $("steps").replaceChildren();
    $("record-progress").value = 0;
  }

  async function openCamera() {
    const stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
      audio: false,
    });
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

  // Open the camera, record the challenge with its prompts, close the camera; resolves to {blob, fileName}.
  // onChunk(blob), when given, receives the recording piece by piece while it is made.
  async function capture(challenge, onChunk) {
    let stream = null;
    try {
      stream = await openCamera();
      return await record(stream, challenge, onChunk);
    } finally {
      closeCamera(stream);
    }
  }

  window.RealnameCapture = { reset, capture };
})();
