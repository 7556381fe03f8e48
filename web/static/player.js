// Seek the meeting's player to #t=SECONDS or #chapter-N, play from any
// clicked line or chapter, and step through chapters with [ and ].
(function () {
  const player = document.getElementById("player");
  const lines = Array.from(document.querySelectorAll(".line"));
  const chapters = Array.from(document.querySelectorAll(".chapter[data-start]"));

  function playFrom(seconds) {
    highlight(seconds);
    if (!player) return;
    const seek = () => { player.currentTime = seconds; player.play().catch(() => {}); };
    if (player.readyState >= 1) seek(); else player.addEventListener("loadedmetadata", seek, { once: true });
  }

  function highlight(seconds) {
    let current = null;
    for (const line of lines) { if (parseFloat(line.dataset.start) <= seconds + 0.05) current = line; }
    lines.forEach((l) => l.classList.toggle("current", l === current));
    if (current) current.scrollIntoView({ block: "center" });
    let chapter = null;
    for (const c of chapters) { if (parseFloat(c.dataset.start) <= seconds + 0.05) chapter = c; }
    chapters.forEach((c) => c.classList.toggle("current", c === chapter));
  }

  function fromHash() {
    const t = /t=(\d+(?:\.\d+)?)/.exec(window.location.hash);
    if (t) { playFrom(parseFloat(t[1])); return; }
    const c = /^#chapter-(\d+)$/.exec(window.location.hash);
    const target = c && document.getElementById("chapter-" + c[1]);
    if (target && target.dataset.start) playFrom(parseFloat(target.dataset.start));
  }

  function at() {
    if (player && player.readyState >= 1) return player.currentTime;
    const current = document.querySelector(".chapter.current");
    return current ? parseFloat(current.dataset.start) : -1;
  }

  document.querySelectorAll(".time[data-start]").forEach((b) =>
    b.addEventListener("click", () => {
      history.replaceState(null, "", "#t=" + Math.floor(b.dataset.start));
      playFrom(parseFloat(b.dataset.start));
    }));

  document.addEventListener("keydown", (event) => {
    if (event.key !== "]" && event.key !== "[") return;
    if (event.target.closest && event.target.closest("input, textarea, select")) return;
    if (!chapters.length) return;
    const now = at();
    const later = chapters.filter((c) => parseFloat(c.dataset.start) > now + 1);
    const earlier = chapters.filter((c) => parseFloat(c.dataset.start) < now - 1);
    const next = event.key === "]" ? later[0] : earlier[earlier.length - 1];
    if (!next) return;
    event.preventDefault();
    history.replaceState(null, "", "#" + next.id);
    next.querySelector(".time").focus();
    playFrom(parseFloat(next.dataset.start));
  });
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
