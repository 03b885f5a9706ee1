// The ops page's poller: a file, as the Content-Security-Policy allows no inline script.
// The JSON view's URL and the period come from the page's data attributes.
const page = document.body;
// Polls the JSON view: stateless, so it works behind any load balancer, and the page
// shows exactly what a script reading /ops/json/ sees.
const show = (id, value) => {
  document.getElementById(id).textContent = value === null ? "–" : value;
};
async function refresh() {
  try {
    const answer = await fetch(page.dataset.json, { credentials: "same-origin" });
    if (!answer.ok) throw new Error(`${answer.status} ${answer.statusText}`);
    const snap = await answer.json();
    for (const id of ["broker", "likes_per_s", "fanout_entries_per_s", "fanout_lag_s",
                      "fanout_owed", "workers_alive", "open_sockets"]) {
      show(id, snap[id]);
    }
    show("taken_at", new Date(snap.taken_at).toLocaleTimeString());
    const rows = Object.entries(snap.queues).map(([name, queue]) => {
      const tr = document.createElement("tr");
      for (const [text, cls] of [[name, ""], [queue.depth, "num"],
                                 [queue.workers.join(", ") || "none", ""]]) {
        const td = document.createElement("td");
        td.textContent = text;
        td.className = cls + (queue.workers.length === 0 && text === "none" ? " warn" : "");
        tr.append(td);
      }
      return tr;
    });
    document.getElementById("queues").replaceChildren(...rows);
    document.getElementById("error").hidden = true;
  } catch (err) {
    const box = document.getElementById("error");
    box.textContent = `Could not refresh: ${err.message}`;
    box.hidden = false;
  }
}
refresh();
setInterval(refresh, Number(page.dataset.pollEveryMs));
