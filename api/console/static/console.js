// mcfarm console: examples one click away, live progress, and the preview players.
// No build step: plain browser JavaScript; hls.js, dash.js and mpegts.js are vendored.
"use strict";

(function () {
  const LIVE = new Set(["Inited", "Running"]);

  function fillExamples() {
    const data = document.getElementById("examples");
    if (!data) return;
    const examples = JSON.parse(data.textContent);
    document.querySelectorAll("button.example").forEach((button) => {
      button.addEventListener("click", () => {
        const example = examples[button.dataset.example];
        document.getElementById("Config").value = example.Config;
        document.getElementById("UserData").value = example.UserData || "";
      });
    });
  }

  function show(el, figures) {
    const bar = el.querySelector("progress");
    if (bar) bar.value = figures.Percent;
    const percent = el.querySelector(".percent");
    if (percent) percent.textContent = figures.Percent + " %";
    const eta = el.querySelector(".eta");
    if (eta) eta.textContent = figures.Eta ? "ETA " + figures.Eta : "";
    const state = el.querySelector(".state");
    if (state && el.dataset.state !== figures.State) {
      state.textContent = figures.State;
      state.className = "state " + figures.State;
    }
  }

  // Polls the progress of the live jobs shown in `root` until none is live any more.
  function poll(root) {
    const url = root.dataset.progress;
    async function tick() {
      const live = [...document.querySelectorAll("[data-job]")].filter((el) => LIVE.has(el.dataset.state));
      if (!live.length) return;
      let answer;
      try {
        const response = await fetch(url + "?ids=" + live.map((el) => el.dataset.job).join(","),
                                     { credentials: "same-origin", cache: "no-store" });
        if (!response.ok) throw new Error(response.status);
        answer = await response.json();
      } catch (err) {
        setTimeout(tick, 5000);  // the API is away: try again, slower
        return;
      }
      for (const el of live) {
        const figures = answer.Jobs[el.dataset.job];
        if (!figures) continue;
        show(el, figures);
        const ended = !figures.Live;
        el.dataset.state = figures.State;
        if (ended && el.matches("section.job")) {
          window.location.reload();  // the detail page shows the outputs as they ended
          return;
        }
      }
      setTimeout(tick, 1000);
    }
    setTimeout(tick, 1000);
  }

  function failed(video, message) {
    if (!video.dataset.error) video.dataset.error = String(message);
  }

  function attach(video) {
    const src = video.dataset.src;
    video.addEventListener("error", () => failed(video, video.error ? video.error.message || video.error.code : "error"));
    const kind = video.dataset.player;
    if (kind === "hls") {
      if (window.Hls && Hls.isSupported()) {
        const hls = new Hls();
        hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) failed(video, data.type + ": " + data.details); });
        hls.loadSource(src);
        hls.attachMedia(video);
      } else {
        video.src = src;  // Safari plays HLS itself
      }
    } else if (kind === "dash" && window.dashjs) {
      const player = dashjs.MediaPlayer().create();
      player.on(dashjs.MediaPlayer.events.ERROR, (e) => failed(video, JSON.stringify(e.error || e)));
      player.initialize(video, src, false);
    } else if (kind === "mpegts" && window.mpegts && mpegts.isSupported()) {
      const player = mpegts.createPlayer({ type: "flv", url: src });
      player.on(mpegts.Events.ERROR, (type, detail) => failed(video, type + ": " + detail));
      player.attachMediaElement(video);
      player.load();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    fillExamples();
    document.querySelectorAll("[data-live='on'][data-progress]").forEach(poll);
    document.querySelectorAll("video[data-player]").forEach(attach);
  });
})();
