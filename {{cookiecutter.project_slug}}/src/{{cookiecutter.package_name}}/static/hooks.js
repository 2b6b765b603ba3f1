// The app's JS hooks: `phx-hook="Name"` on an element (with an id) runs Hooks.Name's callbacks.
// app.js hands them to the LiveSocket. A hook's this.pushEvent(event, payload, callback)
// reaches handle_event; the dict handle_event returns is the callback's `reply`.
window.Hooks = {
  // A "Copy" button: copies its data-email to the clipboard, then tells the server, whose
  // reply says what to show on the button.
  CopyEmail: {
    mounted() {
      this.el.addEventListener("click", async () => {
        const email = this.el.dataset.email;
        try {
          await navigator.clipboard.writeText(email);
        } catch {
          this.el.textContent = "Copy failed";  // no clipboard (a page not served over https)
          return;
        }
        this.pushEvent("email_copied", { email }, (reply) => {
          this.el.textContent = reply.label;
        });
      });
    },
  },
};
