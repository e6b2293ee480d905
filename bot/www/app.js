/* provbot web chat: speaks the contract's /chat WebSocket protocol
 * (hello/welcome, message/reply, error), renders the bot's markdown with DOM
 * nodes only (never innerHTML), reconnects with backoff into the same session
 * and queues what is typed while disconnected. No dependencies, no build.
 * An identity token from the embedding portal (README "Verified identity")
 * comes in a data-token attribute (on <html> or on this <script>) or in a
 * postMessage {type: 'provbot:token', token} from the parent window; it is
 * kept in memory only and sent in every hello. */
'use strict';
(function () {
  var SESSION_KEY = 'provbot.session';
  var me = document.currentScript;
  var token = document.documentElement.getAttribute('data-token') ||
    (me && me.getAttribute('data-token')) || null;
  var MAX_UPLOAD = 5 * 1024 * 1024;
  var L = {
    en: {
      send: 'Send', placeholder: 'Type your message…', connecting: 'Connecting…',
      reconnecting: 'Reconnecting…', connected: 'Online', attach: 'Attach screenshot',
      subtitle: 'Webex provisioning contact helpdesk', typing: 'provbot is typing',
      you: 'You said', bot: 'provbot said', quick: 'Quick replies', log: 'Conversation',
      caseTitle: 'Support case', caseRef: 'Reference', caseStatus: 'Status',
      caseOrder: 'Order', caseEmail: 'New contact email', caseRemote: 'Ticket',
      queued: 'Queued', filed: 'Filed', failed: 'Failed',
      pending: 'Waiting for connection', uploading: 'Uploading screenshot “%s”…',
      uploaded: 'Screenshot “%s” attached.', uploadFailed: 'The screenshot could not be attached: %s',
      tooBig: 'That file is larger than 5 MiB. Please attach a smaller screenshot.',
      badType: 'Please attach a PNG or JPEG image.', noSession: 'not connected yet',
      error: 'The message was not accepted (%s).', noReply: 'No answer came back. Please try again.'
    },
    sv: {
      send: 'Skicka', placeholder: 'Skriv ditt meddelande…', connecting: 'Ansluter…',
      reconnecting: 'Återansluter…', connected: 'Ansluten', attach: 'Bifoga skärmbild',
      subtitle: 'Helpdesk för Webex provisioneringskontakt', typing: 'provbot skriver',
      you: 'Du skrev', bot: 'provbot skrev', quick: 'Snabbsvar', log: 'Konversation',
      caseTitle: 'Supportärende', caseRef: 'Referens', caseStatus: 'Status',
      caseOrder: 'Order', caseEmail: 'Ny kontakt-e-post', caseRemote: 'Ärende',
      queued: 'I kö', filed: 'Registrerat', failed: 'Misslyckades',
      pending: 'Väntar på anslutning', uploading: 'Laddar upp skärmbilden ”%s”…',
      uploaded: 'Skärmbilden ”%s” är bifogad.', uploadFailed: 'Skärmbilden kunde inte bifogas: %s',
      tooBig: 'Filen är större än 5 MiB. Bifoga en mindre skärmbild.',
      badType: 'Bifoga en PNG- eller JPEG-bild.', noSession: 'inte ansluten än',
      error: 'Meddelandet togs inte emot (%s).', noReply: 'Inget svar kom. Försök igen.'
    }
  };

  var $ = function (id) { return document.getElementById(id); };
  var log = $('log'), scroller = $('scroller'), typing = $('typing'), form = $('composer');
  var input = $('input'), sendBtn = $('send'), attach = $('attach'), fileInput = $('file');
  var statusEl = $('status'), intro = $('intro');

  var lang = 'en', expect = null, session = loadSession();
  var hints = {};          /* question type -> {en, sv}: the input hints, from the welcome */
  var ws = null, ready = false, attempt = 0, retryTimer = null, welcomeTimer = null;
  var queue = [];          /* frames typed while disconnected: {frame, el} */
  var awaiting = {};       /* message id -> timeout handle, until its reply */
  var seq = 0, statusState = 'connecting';

  function t(key) { return (L[lang] && L[lang][key]) || L.en[key]; }
  function fmt(key, arg) { return t(key).replace('%s', arg); }
  function loadSession() { try { return localStorage.getItem(SESSION_KEY); } catch (e) { return null; } }
  function saveSession(s) { session = s; try { localStorage.setItem(SESSION_KEY, s); } catch (e) { /* storage blocked */ } }
  function newId() { seq += 1; return 'm' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8) + seq; }
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = text;
    return n;
  }

  /* ---- markdown: blocks (paragraphs, lists) and inlines, as DOM nodes ---- */
  var INLINE = /`([^`\n]+)`|\*\*([^*\n]+?)\*\*|\[([^\]\n]+)\]\(([^)\s]+)\)|(\bhttps?:\/\/[^\s<>"]*[^\s<>".,;:!?)\]'])|\*([^*\s](?:[^*\n]*[^*\s])?)\*|(^|[^\w])_([^_\s](?:[^_\n]*[^_\s])?)_(?!\w)/;

  function safeHref(href) {
    try {
      var u = new URL(href, location.href);
      return /^(https?|mailto):$/.test(u.protocol) ? u.href : null;
    } catch (e) { return null; }
  }
  function link(href, label, parent, bare) {
    var safe = safeHref(href);
    if (!safe) { parent.appendChild(document.createTextNode(label)); return; }
    var a = el('a');
    a.href = safe; a.target = '_blank'; a.rel = 'noopener noreferrer';
    if (bare || /https?:\/\//.test(label)) a.textContent = label; else inline(label, a);
    parent.appendChild(a);
  }
  function inline(text, parent) {
    var m;
    while (text && (m = INLINE.exec(text))) {
      var at = m.index;
      if (m[7] !== undefined) { at += m[7].length; }
      if (at > 0) parent.appendChild(document.createTextNode(text.slice(0, at)));
      if (m[1] !== undefined) parent.appendChild(el('code', null, m[1]));
      else if (m[2] !== undefined) { var b = el('strong'); inline(m[2], b); parent.appendChild(b); }
      else if (m[3] !== undefined) link(m[4], m[3], parent);
      else if (m[5] !== undefined) link(m[5], m[5], parent, true);
      else { var i = el('em'); inline(m[6] !== undefined ? m[6] : m[8], i); parent.appendChild(i); }
      text = text.slice(m.index + m[0].length);
    }
    if (text) parent.appendChild(document.createTextNode(text));
  }
  function lines(parent, arr) {
    arr.forEach(function (s, k) { if (k) parent.appendChild(el('br')); inline(s, parent); });
  }
  /* Blocks: paragraphs (single newlines become <br>), "1." / "-" lists whose
   * items may continue on indented lines, "#" lines as bold headings. */
  function markdown(src) {
    var frag = document.createDocumentFragment(), para = [], list = null, item = null, gap = false;
    function flush() {
      if (para.length) { var p = el('p'); lines(p, para); frag.appendChild(p); para = []; }
    }
    String(src || '').replace(/\r\n?/g, '\n').split('\n').forEach(function (raw) {
      var s = raw.trim(), m, kind;
      if (!s) { flush(); gap = true; return; }
      if ((m = /^(\d{1,3})[.)]\s+(.*)$/.exec(s))) kind = 'ol';
      else if ((m = /^[-*\u2022+]\s+(.*)$/.exec(s))) kind = 'ul';
      if (kind) {
        flush();
        if (!list || list.tagName.toLowerCase() !== kind) {
          list = frag.appendChild(el(kind));
          if (kind === 'ol' && m[1] !== '1') list.start = parseInt(m[1], 10);
        }
        item = list.appendChild(el('li'));
        inline(kind === 'ol' ? m[2] : m[1], item);
      } else if (item && !gap && /^\s/.test(raw)) {
        item.appendChild(el('br')); inline(s, item);
      } else if ((m = /^#{1,4}\s+(.*)$/.exec(s))) {
        flush(); list = item = null;
        var st = el('strong'); inline(m[1], st);
        frag.appendChild(el('p', 'heading')).appendChild(st);
      } else {
        list = item = null; para.push(s);
      }
      gap = false;
    });
    flush();
    return frag;
  }

  /* ---- transcript ---- */
  function scrollDown() { scroller.scrollTop = scroller.scrollHeight; }
  function addMessage(who, content, msgLang) {
    if (intro) { intro.remove(); intro = null; }
    var row = el('div', 'msg ' + who), bubble = el('div', 'bubble');
    if (msgLang) row.lang = msgLang;
    row.appendChild(el('span', 'sr-only', t(who === 'me' ? 'you' : 'bot') + ': '));
    if (typeof content === 'string') bubble.textContent = content; else bubble.appendChild(content);
    row.appendChild(bubble);
    log.appendChild(row);
    scrollDown();
    return row;
  }
  function notice(text, kind) {
    var n = el('p', 'notice' + (kind ? ' ' + kind : ''), text);
    log.appendChild(n); scrollDown();
    return n;
  }
  function removeButtons() {
    Array.prototype.forEach.call(log.querySelectorAll('.quick'), function (q) { q.remove(); });
  }
  function addButtons(labels, prominent) {
    if (!labels || !labels.length) return;
    var row = el('div', 'quick' + (prominent ? ' prominent' : ''));
    row.setAttribute('role', 'group');
    row.setAttribute('aria-label', t('quick'));
    labels.forEach(function (label) {
      var b = el('button', 'chip', label);
      b.type = 'button';
      b.addEventListener('click', function () { removeButtons(); sendText(label); input.focus(); });
      row.appendChild(b);
    });
    log.appendChild(row); scrollDown();
  }
  function caseCard(c) {
    var card = el('section', 'case');
    card.setAttribute('aria-label', t('caseTitle') + ' ' + (c.id || ''));
    var head = el('div', 'case-head');
    head.appendChild(el('h2', null, t('caseTitle')));
    var status = String(c.status || '');
    head.appendChild(el('span', 'badge ' + (/^(queued|filed|failed)$/.test(status) ? status : ''), t(status) || status));
    card.appendChild(head);
    var dl = el('dl');
    [['caseRef', c.id, 'case-id'], ['caseOrder', c.order_ref, 'case-order'],
      ['caseEmail', c.new_email, 'case-email'], ['caseRemote', c.remote_id, 'case-remote']
    ].forEach(function (f) {
      if (f[1] == null || f[1] === '') return;
      var d = el('div', f[2]);
      d.appendChild(el('dt', null, t(f[0])));
      d.appendChild(el('dd', null, String(f[1])));
      dl.appendChild(d);
    });
    card.appendChild(dl);
    return card;
  }

  /* ---- labels and the input, following the last reply ---- */
  function applyLabels() {
    document.documentElement.lang = lang;
    sendBtn.textContent = t('send');
    attach.setAttribute('aria-label', t('attach')); attach.title = t('attach');
    $('subtitle').textContent = t('subtitle');
    $('typing-label').textContent = t('typing');
    log.setAttribute('aria-label', t('log'));
    var ph = (expect && hints[expect] && hints[expect][lang]) || t('placeholder');
    input.placeholder = ph;
    $('input-label').textContent = ph;
    setStatus(statusState);
  }
  function applyExpect() {
    var email = expect === 'email';
    input.type = email ? 'email' : 'text';
    input.inputMode = email ? 'email' : 'text';
    input.autocomplete = email ? 'email' : 'off';
    form.dataset.expect = expect || '';
    attach.hidden = expect == null;
    applyLabels();
  }
  function setStatus(state) {
    statusState = state;
    statusEl.dataset.state = state;
    statusEl.textContent = t(state);
  }

  /* ---- the socket ---- */
  function url() { return (location.protocol === 'https:' ? 'wss' : 'ws') + '://' + location.host + '/chat'; }
  function helloFrame() {
    var hello = { type: 'hello' };
    if (session) hello.session = session;
    if (token) hello.token = token;
    return hello;
  }
  /* A (fresh) token from the page that embeds this one: a new hello with it. */
  window.addEventListener('message', function (ev) {
    var d = ev.data;
    if (window.parent === window || ev.source !== window.parent) return;
    if (!d || d.type !== 'provbot:token' || typeof d.token !== 'string' || d.token.length > 4096) return;
    token = d.token;
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(helloFrame()));
  });
  function connect() {
    clearTimeout(retryTimer);
    setStatus(attempt ? 'reconnecting' : 'connecting');
    try { ws = new WebSocket(url()); } catch (e) { return retry(); }
    ws.onopen = function () {
      ws.send(JSON.stringify(helloFrame()));
      welcomeTimer = setTimeout(becomeReady, 3000); /* a server that never welcomes */
    };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (!f || typeof f !== 'object') return;
      if (f.type === 'welcome') {
        if (f.expects && typeof f.expects === 'object') { hints = f.expects; applyLabels(); }
        if (f.session) saveSession(String(f.session));
        becomeReady();
      }
      else if (f.type === 'reply') { becomeReady(); onReply(f); }
      else if (f.type === 'error') onError(f);
    };
    ws.onclose = function () {
      ws = null; ready = false; clearTimeout(welcomeTimer);
      Object.keys(awaiting).forEach(settle);
      retry();
    };
    ws.onerror = function () { /* onclose follows */ };
  }
  function retry() {
    var base = Math.min(10000, 500 * Math.pow(2, attempt));
    attempt += 1;
    setStatus('reconnecting');
    retryTimer = setTimeout(connect, base / 2 + Math.random() * base / 2);
  }
  function becomeReady() {
    clearTimeout(welcomeTimer);
    if (ready || !ws || ws.readyState !== 1) return;
    ready = true; attempt = 0;
    setStatus('connected');
    var q = queue; queue = [];
    q.forEach(function (item) { transmit(item.frame, item.el); });
  }
  function transmit(frame, row) {
    if (row) { row.classList.remove('queued'); var h = row.querySelector('.hint'); if (h) h.remove(); }
    ws.send(JSON.stringify(frame));
    awaiting[frame.id] = setTimeout(function () { settle(frame.id); notice(t('noReply'), 'warn'); }, 30000);
    updateTyping();
  }
  function settle(id) {
    clearTimeout(awaiting[id]); delete awaiting[id];
    updateTyping();
  }
  function updateTyping() {
    typing.hidden = Object.keys(awaiting).length === 0;
    if (!typing.hidden) scrollDown();
  }
  function sendText(text) {
    text = String(text).trim();
    if (!text) return;
    var frame = { type: 'message', text: text, id: newId() };
    var row = addMessage('me', text);
    removeButtons();
    if (ready && ws && ws.readyState === 1) transmit(frame, row);
    else {
      row.classList.add('queued');
      row.appendChild(el('span', 'hint', t('pending')));
      queue.push({ frame: frame, el: row });
    }
  }
  function onReply(r) {
    if (r.reply_to != null) settle(String(r.reply_to));
    if (r.lang === 'en' || r.lang === 'sv') lang = r.lang;
    expect = r.expect || null;
    var row = addMessage('bot', markdown(r.text), lang);
    if (r.case && typeof r.case === 'object') { row.appendChild(caseCard(r.case)); scrollDown(); }
    applyExpect();
    var prominent = expect === 'yes_no' || expect === 'line_status' || expect === 'confirm';
    addButtons(Array.isArray(r.buttons) ? r.buttons.map(String) : [], prominent);
  }
  function onError(f) {
    if (f.code === 'bad_token' && !f.reply_to) { token = null; notice(fmt('error', f.message || f.code), 'warn'); return; }
    var ids = Object.keys(awaiting);
    if (ids.length) settle(ids[ids.length - 1]); /* the frame it refused gets no reply */
    notice(fmt('error', f.message || f.code || 'error'), 'warn');
  }

  /* ---- screenshot upload ---- */
  function upload(file) {
    if (!file) return;
    if (file.type !== 'image/png' && file.type !== 'image/jpeg') { notice(t('badType'), 'warn'); return; }
    if (file.size > MAX_UPLOAD) { notice(t('tooBig'), 'warn'); return; }
    if (!session) { notice(fmt('uploadFailed', t('noSession')), 'warn'); return; }
    var n = notice(fmt('uploading', file.name), 'upload');
    fetch('/upload?session=' + encodeURIComponent(session), {
      method: 'POST', headers: { 'Content-Type': file.type, 'X-Filename': file.name }, body: file
    }).then(function (res) {
      return res.json().catch(function () { return { ok: false, error: 'HTTP ' + res.status }; });
    }).then(function (j) {
      if (j && j.ok) { n.textContent = fmt('uploaded', file.name); n.className = 'notice upload ok'; }
      else { n.textContent = fmt('uploadFailed', (j && j.error) || 'error'); n.className = 'notice upload warn'; }
    }, function (e) {
      n.textContent = fmt('uploadFailed', e.message || 'network error'); n.className = 'notice upload warn';
    });
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var v = input.value;
    if (!v.trim()) return;
    input.value = '';
    sendText(v);
  });
  attach.addEventListener('click', function () { fileInput.click(); });
  fileInput.addEventListener('change', function () {
    var f = fileInput.files && fileInput.files[0];
    fileInput.value = '';
    upload(f);
  });
  window.addEventListener('online', function () { if (!ws) { attempt = 0; connect(); } });

  applyExpect();
  connect();
  input.focus();
})();
