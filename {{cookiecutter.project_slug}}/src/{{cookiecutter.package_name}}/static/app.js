// Connects the official Phoenix LiveView client to this server's /live socket.
(() => {
  const meta = (name) => document.querySelector(`meta[name='${name}']`).getAttribute("content");
  const csrfToken = meta("csrf-token");
  // "/live", or under the app's path prefix when it is mounted below one.
  const liveSocket = new LiveView.LiveSocket(meta("live-socket"), Phoenix.Socket, {
    params: { _csrf_token: csrfToken },
    hooks: window.Hooks,  // hooks.js
  });
  liveSocket.connect();
  window.liveSocket = liveSocket;
})();
