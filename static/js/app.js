// Small progressive enhancements; every page works without this file.
document.addEventListener("htmx:responseError", function (event) {
  var flash = document.getElementById("flash");
  if (!flash) return;
  var status = event.detail.xhr.status;
  var text = status === 403 ? "You are not allowed to do that." : "Something went wrong (" + status + "). Reload the page and try again.";
  flash.textContent = text;
  flash.className = "message error";
  flash.hidden = false;
});
document.addEventListener("htmx:sendError", function () {
  var flash = document.getElementById("flash");
  if (!flash) return;
  flash.textContent = "Flightdeck could not be reached. Check your connection and try again.";
  flash.className = "message error";
  flash.hidden = false;
});

// The release page polls for changes made by other people. It never refreshes while the
// person is typing, has an inline plan form open, or has a reason box unfolded.
window.flightdeckMayRefresh = function () {
  var body = document.getElementById("release-body");
  if (!body || document.hidden) return false;
  if (body.querySelector(".plan-form, details[open]")) return false;
  var active = document.activeElement;
  if (active && active.closest && active.closest("#release-body form") && active.tagName !== "BUTTON") return false;
  return true;
};

// Gate form: show only the settings of the chosen kind (all are shown without JavaScript).
function flightdeckGateKinds(root) {
  (root || document).querySelectorAll("form.gate-form").forEach(function (form) {
    var select = form.querySelector("select[name=kind]");
    if (!select) return;
    var apply = function () {
      form.querySelectorAll("fieldset[data-kind]").forEach(function (fs) {
        fs.hidden = fs.getAttribute("data-kind").split(" ").indexOf(select.value) === -1;
      });
    };
    select.addEventListener("change", apply);
    apply();
  });
}
document.addEventListener("DOMContentLoaded", function () { flightdeckGateKinds(document); });
document.addEventListener("htmx:load", function (event) { flightdeckGateKinds(event.detail.elt); });
