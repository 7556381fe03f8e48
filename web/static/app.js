// "Cite" buttons copy a ready-made citation to the clipboard.
(function () {
  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    area.remove();
    return Promise.resolve();
  }
  document.querySelectorAll("button.cite").forEach((button) => {
    const label = button.textContent;
    button.addEventListener("click", () => {
      copy(button.dataset.cite).then(() => {
        button.textContent = "Copied";
        setTimeout(() => { button.textContent = label; }, 1500);
      });
    });
  });
})();
