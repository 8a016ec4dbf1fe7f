// Live updates of a console page: registry changes arrive as server-sent events (the facade relays the registry's
// KV watch); the page fetches itself again and swaps the parts that show sites and the audit trail. No framework.
(() => {
  const source = document.body.dataset.live;
  if (!source || !('EventSource' in window)) return;
  const parts = ['sites', 'audit'];
  let pending = false;
  let running = false;
  const refresh = async () => {
    if (running) { pending = true; return; }
    running = true;
    try {
      const response = await fetch(location.pathname, { credentials: 'same-origin', headers: { accept: 'text/html' } });
      if (!response.ok) return;
      const next = new DOMParser().parseFromString(await response.text(), 'text/html');
      for (const id of parts) {
        const here = document.getElementById(id);
        const there = next.getElementById(id);
        // A form being filled in is never replaced under the user's hands.
        if (here && there && !here.contains(document.activeElement)) here.replaceWith(there);
      }
    } finally {
      running = false;
      if (pending) { pending = false; setTimeout(refresh, 250); }
    }
  };
  const events = new EventSource(source);
  events.addEventListener('change', () => void refresh());
})();
