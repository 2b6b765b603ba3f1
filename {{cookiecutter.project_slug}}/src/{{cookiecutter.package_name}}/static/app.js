// Connects the official Phoenix LiveView client to this server's /live socket.
(() => {
  const meta = (name) => document.querySelector(`meta[name='${name}']`).getAttribute("content");
  const csrfToken = meta("csrf-token");
  // "/live", or under the app's path prefix when it is mounted below one.
  const liveSocket = new LiveView.LiveSocket(meta("live-socket"), Phoenix.Socket, {
    params: { _csrf_token: csrfToken },
    hooks: window.Hooks,  // hooks.js
  });
  // socket.push_event("js-exec", {to, attr}) runs the JS commands stored in the attribute
  // `attr` of the elements `to` selects (a server undoing what js did in the browser).
  window.addEventListener("phx:js-exec", ({ detail }) => {
    document.querySelectorAll(detail.to).forEach((el) => {
      liveSocket.execJS(el, el.getAttribute(detail.attr));
    });
  });
  liveSocket.connect();
  window.liveSocket = liveSocket;
})();
