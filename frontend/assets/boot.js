// Loaded synchronously in <head> of every page (not a module) so the saved display mode applies
// before the first paint: no flash of small text for people who use 长辈模式.
(function () {
  try {
    if (window.localStorage.getItem("huiminbao.mode") === "elderly") {
      document.documentElement.setAttribute("data-mode", "elderly");
    }
  } catch (e) {
    /* storage may be unavailable in some webviews: keep the standard mode */
  }
})();
