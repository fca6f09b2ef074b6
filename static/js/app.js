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

// Polling panels wait while someone works in them. An htmx trigger filter ("every 5s [...]")
// would need eval, which the Content-Security-Policy forbids (htmx-config allowEval:false),
// so a polling element names its rule in data-poll-if and a poll the rule refuses is skipped
// (htmx keeps polling; the next tick asks again).
var flightdeckPollRules = {
  release: function () {
    return window.flightdeckMayRefresh();
  },
  briefing: function () {
    if (document.hidden || document.querySelector("#briefing-body .briefing-form")) return false;
    var active = document.activeElement;
    return !(active && active.matches && active.matches("#briefing-body input, #briefing-body textarea, #briefing-body select"));
  },
  "comms-plan": function () {
    return !document.querySelector("#comms-plan .plan-form, #comms-plan details[open], #comms-plan .message-preview");
  },
};
document.addEventListener("htmx:confirm", function (event) {
  var elt = event.detail.elt;
  var rule = elt && elt.getAttribute && flightdeckPollRules[elt.getAttribute("data-poll-if")];
  if (rule && !rule()) event.preventDefault();
});

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

// No inline scripts or handlers in templates (a strict Content-Security-Policy forbids them):
// <form data-progress="Creating…"> says so and blocks a second submit; <form data-confirm="…">
// asks first; <button data-print> prints the page.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  var progress = form.getAttribute && form.getAttribute("data-progress");
  if (progress) {
    var button = form.querySelector("button[type=submit]");
    if (button) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    }
    var status = form.querySelector("[data-progress-status]") || document.getElementById("create-progress");
    if (status) status.textContent = progress;
  }
});
document.addEventListener("click", function (event) {
  if (event.target.closest && event.target.closest("[data-print]")) window.print();
});
