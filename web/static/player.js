// Seek the meeting's player to #t=SECONDS, and play from any clicked line.
(function () {
  const player = document.getElementById("player");
  if (!player) return;
  const lines = Array.from(document.querySelectorAll(".line"));

  function playFrom(seconds) {
    const seek = () => { player.currentTime = seconds; player.play().catch(() => {}); };
    if (player.readyState >= 1) seek(); else player.addEventListener("loadedmetadata", seek, { once: true });
    highlight(seconds);
  }

  function highlight(seconds) {
    let current = null;
    for (const line of lines) { if (parseFloat(line.dataset.start) <= seconds + 0.05) current = line; }
    lines.forEach((l) => l.classList.toggle("current", l === current));
    if (current) current.scrollIntoView({ block: "center" });
  }

  function fromHash() {
    const m = /t=(\d+(?:\.\d+)?)/.exec(window.location.hash);
    if (m) playFrom(parseFloat(m[1]));
  }

  document.querySelectorAll(".line .time").forEach((b) =>
    b.addEventListener("click", () => { history.replaceState(null, "", "#t=" + Math.floor(b.dataset.start)); playFrom(parseFloat(b.dataset.start)); }));
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
