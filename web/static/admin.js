// The admin token is typed once per tab: kept in sessionStorage (gone when
// the tab closes, never sent as a cookie) and filled into every form's token
// field, so each write still carries it in its own POST body.
(function () {
  const KEY = "onrecord-admin-token";
  const fields = Array.from(document.querySelectorAll("input[name=token]"));
  let saved = "";
  try { saved = sessionStorage.getItem(KEY) || ""; } catch (e) { return; }
  fields.forEach((field) => {
    if (saved) field.value = saved;
    field.addEventListener("change", () => {
      try { sessionStorage.setItem(KEY, field.value); } catch (e) { /* storage off: type it each time */ }
      fields.forEach((other) => { if (other !== field) other.value = field.value; });
    });
  });
})();
