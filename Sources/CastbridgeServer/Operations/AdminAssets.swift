/// The admin console's page, script and style, served by castbridge itself (hospitals run offline: no CDN). The page
/// holds no data; the script reads `/admin/api/stream` with the admin's token and builds the view with `textContent`
/// only, so that no topic or subscriber name can inject markup.
enum AdminAssets {
    /// Served with every asset: nothing but castbridge's own script, style and API.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static let page = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>castbridge — admin console</title>
        <link rel="stylesheet" href="/admin/console.css">
        <script src="/admin/console.js" defer></script>
        </head>
        <body>
        <header>
          <h1>castbridge</h1>
          <span id="connection" class="badge">connecting…</span>
          <form id="token-form">
            <input id="token" type="password" placeholder="admin bearer token (when auth is on)" autocomplete="off">
            <button type="submit">Use token</button>
          </form>
        </header>
        <div id="confirm" hidden>
          <span id="confirm-text"></span>
          <button id="confirm-yes" type="button">Confirm</button>
          <button id="confirm-no" type="button">Cancel</button>
        </div>
        <div id="message" role="status"></div>
        <main>
          <section><h2>Node</h2><div id="node"></div></section>
          <section><h2>Bridge</h2><div id="bridge"></div></section>
          <section><h2>FHIRcast topics</h2><div id="fhircast"></div></section>
          <section><h2>Cast subscriptions</h2><div id="cast"></div></section>
          <section><h2>Cast conferences</h2><div id="conferences"></div></section>
          <section><h2>Pending Cast requests</h2><div id="requests"></div></section>
          <section><h2>Latest audit records</h2><div id="audit"></div></section>
        </main>
        </body>
        </html>
        """

    static let style = """
        * { box-sizing: border-box; }
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
        header { display: flex; gap: 1em; align-items: center; padding: .6em 1em; background: #14324f; color: #fff; }
        header h1 { font-size: 1.2em; margin: 0; }
        header form { margin-left: auto; display: flex; gap: .4em; }
        header input { width: 22em; }
        .badge { padding: .1em .6em; border-radius: 1em; background: #555; font-size: .85em; }
        .badge.live { background: #1d7a3a; } .badge.down { background: #a32020; }
        main { padding: 0 1em 2em; }
        section { background: #fff; border: 1px solid #d9dde3; border-radius: 6px; margin: 1em 0; padding: .2em 1em .8em; }
        h2 { font-size: 1em; margin: .6em 0; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid #eceff3; vertical-align: top; }
        th { font-weight: 600; color: #48505a; }
        .topic { margin: .6em 0; } .topic h3 { font-size: 1em; margin: .3em 0; display: flex; gap: 1em; align-items: center; }
        .muted { color: #6b7480; }
        button { cursor: pointer; }
        button.danger { color: #a32020; }
        #confirm { position: sticky; top: 0; z-index: 1; background: #fff4d6; border-bottom: 1px solid #e0c36a; padding: .6em 1em; }
        #message { padding: 0 1em; color: #14324f; min-height: 1.4em; }
        """

    static let script = #"""
        "use strict";
        let token = sessionStorage.getItem("castbridge-admin-token") || "";
        let pending = null;
        let stream = null;

        function headers(json) {
          const h = {};
          if (token) h["Authorization"] = "Bearer " + token;
          if (json) h["Content-Type"] = "application/json";
          return h;
        }

        function el(tag, text, cls) {
          const e = document.createElement(tag);
          if (text !== undefined && text !== null) e.textContent = String(text);
          if (cls) e.className = cls;
          return e;
        }

        function table(columns, rows) {
          if (rows.length === 0) return el("p", "none", "muted");
          const t = el("table"), head = el("tr");
          columns.forEach(c => head.appendChild(el("th", c)));
          t.appendChild(head);
          rows.forEach(r => {
            const tr = el("tr");
            r.cells.forEach(c => { const td = el("td"); if (c instanceof Node) td.appendChild(c); else td.textContent = c; tr.appendChild(td); });
            if (r.ref) tr.dataset.ref = r.ref;
            t.appendChild(tr);
          });
          return t;
        }

        function ask(text, action) {
          pending = action;
          document.getElementById("confirm-text").textContent = text;
          document.getElementById("confirm").hidden = false;
        }

        function say(text) { document.getElementById("message").textContent = text; }

        async function act(path, body, done) {
          try {
            const r = await fetch(path, { method: "POST", headers: headers(true), body: JSON.stringify(body) });
            const answer = await r.text();
            say(r.ok ? done : "refused (" + r.status + "): " + answer);
          } catch (e) { say("failed: " + e); }
        }

        function actionButton(label, cls, question, path, body, done) {
          const b = el("button", label, "danger " + cls);
          b.type = "button";
          b.addEventListener("click", () => ask(question, () => act(path, body, done)));
          return b;
        }

        function endButton(hub, ref, name) {
          return actionButton("End", "end", "End the subscription of " + name + "?", "/admin/api/subscriptions/end",
            { hub: hub, ref: ref }, "subscription ended");
        }

        function clearButton(hub, topic) {
          return actionButton("Clear topic", "clear", "Clear topic " + topic + "? Every subscription of it ends.",
            "/admin/api/topics/clear", { hub: hub, topic: topic }, "topic cleared");
        }

        function keyValues(target, object) {
          target.replaceChildren(table(["", ""], Object.keys(object || {}).sort().map(k => ({ cells: [k, typeof object[k] === "object" ? JSON.stringify(object[k]) : String(object[k])] }))));
        }

        function render(s) {
          keyValues(document.getElementById("node"), s.node);
          const bridge = document.getElementById("bridge");
          if (s.bridge) keyValues(bridge, s.bridge); else bridge.replaceChildren(el("p", "off", "muted"));

          const f = document.getElementById("fhircast");
          const topics = (s.fhircast && s.fhircast.topics) || [];
          f.replaceChildren();
          if (topics.length === 0) f.appendChild(el("p", "no topics", "muted"));
          topics.forEach(t => {
            const box = el("div", null, "topic"); box.dataset.topic = t.topic;
            const h = el("h3"); h.appendChild(el("span", t.topic)); h.appendChild(clearButton("fhircast", t.topic)); box.appendChild(h);
            const c = t.context;
            box.appendChild(el("p", c ? "context: " + c.type + " (version " + c.versionId + "): " +
              c.resources.map(r => r.key + " " + (r.resourceType || "?") + "/" + (r.id || "?")).join(", ") +
              (c.sharedContent ? "; shared content: " + c.sharedContent : "") : "no current context", "context"));
            box.appendChild(table(["subscriber", "version", "channel", "events", "state", "lease left", "backlog", "awaiting ACKs", ""],
              t.subscribers.map(x => ({ ref: x.ref, cells: [x.name, x.version, x.channel + (x.callbackHost ? " → " + x.callbackHost : ""),
                x.events.join(", "), x.state, x.leaseLeftSeconds + " s", x.backlog === undefined ? "–" : x.backlog, x.awaitingAcks,
                endButton("fhircast", x.ref, x.name)] }))));
            f.appendChild(box);
          });

          const cast = s.cast || {};
          const castBox = document.getElementById("cast");
          if (cast.external) castBox.replaceChildren(el("p", "Cast apps use the external hub " + cast.external, "muted"));
          else castBox.replaceChildren(table(["topic", "subscriber", "product", "actors", "channel", "events", "connected", "backlog", ""],
            (cast.subscriptions || []).map(x => ({ ref: x.ref, cells: [x.topic, x.name, x.product || "", (x.actors || []).join(", "),
              x.channel + (x.callbackHost ? " → " + x.callbackHost : ""), x.events, x.connected === undefined ? "–" : (x.connected ? "yes" : "no"),
              x.backlog === undefined ? "–" : x.backlog, endButton("cast", x.ref, x.name)] }))));
          document.getElementById("conferences").replaceChildren(table(["host topic", "title", "topics"],
            (cast.conferences || []).map(c => ({ cells: [c.hostTopic || c.host_topic || "", c.title || "", JSON.stringify(c.topics || [])] }))));
          document.getElementById("requests").replaceChildren(table(["id", "requester", "data type", "topic", "waiting for"],
            (cast.pendingRequests || []).map(r => ({ cells: [r.id, r.requester, r.dataType, r.topic || "", r.missing.join(", ")] }))));
          document.getElementById("audit").replaceChildren(table(["time", "action", "side", "outcome", "status", "subject", "topic", "reason"],
            (s.audit || []).map(a => ({ cells: [a.time, a.action, a.side, a.outcome, a.status, a.subject || "", a.topic || "", a.reason || ""] }))));
        }

        function status(text, cls) {
          const b = document.getElementById("connection");
          b.textContent = text; b.className = "badge " + (cls || "");
        }

        async function follow() {
          if (stream) stream.abort();
          const controller = new AbortController();
          stream = controller;
          try {
            const r = await fetch("/admin/api/stream", { headers: headers(false), signal: controller.signal });
            if (!r.ok) { status(r.status === 401 || r.status === 403 ? "needs an admin token" : "error " + r.status, "down"); return; }
            status("live", "live");
            const reader = r.body.getReader(), decoder = new TextDecoder();
            let buffered = "";
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              buffered += decoder.decode(value, { stream: true });
              let cut;
              while ((cut = buffered.indexOf("\n\n")) >= 0) {
                const block = buffered.slice(0, cut); buffered = buffered.slice(cut + 2);
                const data = block.split("\n").filter(l => l.startsWith("data: ")).map(l => l.slice(6)).join("\n");
                if (data) render(JSON.parse(data));
              }
            }
          } catch (e) {
            if (controller.signal.aborted) return;
          }
          if (stream === controller) { status("reconnecting…", "down"); setTimeout(follow, 1000); }
        }

        document.addEventListener("DOMContentLoaded", () => {
          document.getElementById("confirm-yes").addEventListener("click", () => {
            document.getElementById("confirm").hidden = true;
            const action = pending; pending = null;
            if (action) action();
          });
          document.getElementById("confirm-no").addEventListener("click", () => {
            document.getElementById("confirm").hidden = true; pending = null; say("cancelled");
          });
          document.getElementById("token-form").addEventListener("submit", e => {
            e.preventDefault();
            token = document.getElementById("token").value.trim();
            sessionStorage.setItem("castbridge-admin-token", token);
            document.getElementById("token").value = "";
            follow();
          });
          follow();
        });
        """#
}
