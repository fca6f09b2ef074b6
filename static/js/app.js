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
