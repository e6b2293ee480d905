// chat.test.mjs BASE_URL -- drives provbot's chat page in Debian's chromium
// (headless, through playwright-core): greeting, a whole flow to a filed case
// by clicking quick replies and typing, the case card, a screenshot upload,
// resuming the session after a reload (the question shown before it is shown
// again), and a person's HTML executing nothing.
// Prints TAP, one line per check; exits 1 when a check fails.
//
// The flow is table-driven: after each reply it looks at the question (the
// reply's last paragraph), the buttons and `expect`, and answers from RULES,
// so that rewording the bot's texts does not break it.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BASE = process.argv[2] || process.env.PROVBOT_URL || 'http://127.0.0.1:8080';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.resolve(HERE, '..', 'out');
const WAIT = 10_000;                   // every single wait
const ORDER = '55512345', NEW_EMAIL = 'it-admin@example.org';
const REQUESTER = 'partner@example.com', DESCRIPTION = 'Save fails even in incognito';
const XSS = '<img src=x onerror=alert(1)>';

let n = 0, failed = 0;
function check(cond, name, diag) {
  n += 1;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!cond) {
    failed += 1;
    if (diag) for (const l of String(diag).split('\n')) console.log(`#   ${l}`);
  }
  return cond;
}
const note = (s) => console.log(`# ${s}`);

let browser;
const deadline = setTimeout(async () => {
  check(false, 'the whole test finishes within 90 s');
  console.log(`1..${n}`);
  try { await browser?.close(); } catch { /* exiting anyway */ }
  process.exit(1);
}, 90_000);

/* ---- page helpers ---- */
const botCount = (page) => page.locator('#log .msg.bot').count();

/** Waits for the bot bubble number `count` (1-based) and no outstanding reply. */
async function waitBot(page, count) {
  await page.waitForFunction((c) => document.querySelectorAll('#log .msg.bot').length >= c
    && document.getElementById('typing').hidden, count, { timeout: WAIT });
  return lastReply(page);
}
/** The last bot reply as the page shows it: text, question, buttons, expect, case. */
function lastReply(page) {
  return page.evaluate(() => {
    const bots = document.querySelectorAll('#log .msg.bot');
    const last = bots[bots.length - 1];
    const bubble = last ? last.querySelector('.bubble') : null;
    const blocks = bubble ? [...bubble.children].map((e) => e.textContent.trim()).filter(Boolean) : [];
    const text = bubble ? bubble.innerText : '';
    // the question: the last sentence ending in "?", else the last paragraph
    const asked = (text.match(/[^.!?\n]*\?/g) || []).map((q) => q.trim()).filter(Boolean);
    const quick = document.querySelector('#log .quick');
    return {
      text,
      question: asked.length ? asked[asked.length - 1] : (blocks.length ? blocks[blocks.length - 1] : text),
      buttons: quick ? [...quick.querySelectorAll('button')].map((b) => b.textContent.trim()) : [],
      expect: document.getElementById('composer').dataset.expect || null,
      hasCase: !!document.querySelector('#log .case'),
    };
  });
}
async function say(page, text) {
  const before = await botCount(page);
  await page.fill('#input', text, { timeout: WAIT });
  await page.press('#input', 'Enter', { timeout: WAIT });
  return waitBot(page, before + 1);
}
async function click(page, label) {
  const before = await botCount(page);
  await page.locator('#log .quick button', { hasText: label }).first().click({ timeout: WAIT });
  return waitBot(page, before + 1);
}
/** Clicks the first button whose label matches `re`, else types `fallback`. */
async function answer(page, r, re, fallback) {
  const b = r.buttons.find((x) => re.test(x));
  return b ? click(page, b) : say(page, fallback);
}

/* ---- the flow table: first matching rule wins ---- */
const state = { newEmailSent: false, uploaded: false, emailInputOk: null, buttonsGone: null };
const RULES = [
  { name: 'line status', when: (r) => r.buttons.some((b) => /awaiting provisioning/i.test(b)) || r.expect === 'line_status',
    act: async (page, r) => {
      const next = await answer(page, r, /awaiting provisioning/i, 'Awaiting Provisioning Details');
      // a clicked row of quick replies is gone (the new reply may bring its own)
      state.buttonsGone ??= !(await page.locator('#log .quick button', { hasText: /^Closed$/ }).count());
      return next;
    } },
  { name: 'confirm', when: (r) => r.expect === 'confirm' || /\b(summary|confirm|file (it|the case)|is this correct|shall I (file|submit|send))\b/i.test(r.question),
    act: (page, r) => answer(page, r, /^(yes|ja|confirm|bekräfta|file|submit|send|open)\b/i, 'yes') },
  { name: 'order reference', when: (r) => r.expect === 'order_ref' || /\border\b.*\b(ref|reference|number|id)\b/i.test(r.question),
    act: async (page) => { await uploadScreenshot(page); return say(page, ORDER); } },
  { name: 'requester email', when: (r) => /\b(your (own )?(e-?mail|address)|requester|reach you|contact you)\b/i.test(r.question)
      || (r.expect === 'email' && state.newEmailSent),
    act: (page) => say(page, REQUESTER) },
  { name: 'new email', when: (r) => r.expect === 'email' || /\bnew\b.*\be-?mail\b/i.test(r.question),
    act: async (page) => {
      state.emailInputOk = await page.evaluate(() => {
        const i = document.getElementById('input');
        /* the hint is the server's (the welcome's "expects"), not a copy in the page */
        return i.type === 'email' && i.inputMode === 'email' && i.autocomplete === 'email' &&
          /^(name@company\.com|namn@foretag\.se)$/.test(i.placeholder);
      });
      state.newEmailSent = true;
      return say(page, NEW_EMAIL);
    } },
  { name: 'description', when: (r) => r.expect === 'text' || /\b(describe|description|what happens|error message)\b/i.test(r.question),
    act: (page) => say(page, DESCRIPTION) },
  { name: 'did it work', when: (r) => /\b(did (it|that|this|the [\w ]{1,24}) (work|help)|(is|has) (it|that) (worked|working|fixed|solved)|works? now|fungerade)/i.test(r.question),
    act: (page, r) => answer(page, r, /^(no|nej)\b/i, 'no') },
  { name: 'onboarded', when: (r) => /\b(onboard|control hub|ponr|mapped)/i.test(r.question),
    act: (page, r) => answer(page, r, /^(no|nej)\b/i, 'no') },
  { name: 'open a case', when: (r) => /\b(case|ticket|escalat|support|ärende)/i.test(r.question),
    act: (page, r) => answer(page, r, /^(yes|ja)\b/i, 'yes') },
  { name: 'edit access', when: (r) => /\b(access|permission|edit button|place(d)? the order|able to edit|can you edit|edit (it|the order)|see "?edit"?)/i.test(r.question),
    act: (page, r) => answer(page, r, /^(yes|ja)\b/i, 'yes') },
];

async function uploadScreenshot(page) {
  if (state.uploaded) return;
  state.uploaded = true;
  const attachVisible = await page.isVisible('#attach');
  check(attachVisible, 'the attach-screenshot button shows while a case is being opened');
  // client-side limit: a file over 5 MiB is refused without a request
  await page.setInputFiles('#file', { name: 'huge.png', mimeType: 'image/png', buffer: Buffer.alloc(5 * 1024 * 1024 + 1) });
  const big = await page.locator('#log .notice').last().textContent({ timeout: WAIT }).catch(() => '');
  check(/5 MiB/.test(big), 'a screenshot over 5 MiB is refused in the page', `notice: ${big}`);
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
  await page.setInputFiles('#file', { name: 'ccw-error.png', mimeType: 'image/png', buffer: png });
  const ok = await page.waitForSelector('#log .notice.upload.ok, #log .notice.upload.warn', { timeout: WAIT })
    .then((h) => h.evaluate((e) => e.classList.contains('ok') ? '' : e.textContent)).catch((e) => `no result: ${e.message.split('\n')[0]}`);
  check(ok === '', 'a PNG screenshot is uploaded to /upload and attached', ok);
}

async function main() {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: WAIT,
  });
  const context = await browser.newContext({ viewport: { width: 1100, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const dialogs = [], pageErrors = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });

  // 1. the page loads, connects and greets
  const res = await page.goto(BASE + '/', { timeout: WAIT });
  check(res && res.status() === 200 && /provbot/i.test(await page.textContent('h1')), 'GET / serves the chat page');
  const connected = await page.waitForFunction(() => document.getElementById('status').dataset.state === 'connected'
    && localStorage.getItem('provbot.session'), null, { timeout: WAIT }).then(() => true, () => false);
  check(connected, 'the page connects to /chat and stores the session from welcome');
  const session = await page.evaluate(() => localStorage.getItem('provbot.session'));
  const hi = await say(page, 'hi').catch((e) => ({ text: '', err: e.message }));
  check(/\b(hi|hello|hey|welcome|hej|välkommen)\b|provbot/i.test(hi.text), 'the bot answers "hi" with a welcome', `reply: ${hi.text || hi.err}`);

  // 2. a whole flow to a filed case
  let r = await say(page, 'I need to change the provisioning contact email');
  const trail = [];
  for (let turn = 0; turn < 20 && !r.hasCase; turn += 1) {
    const rule = RULES.find((x) => x.when(r));
    trail.push(`${rule ? rule.name : '??'} <- [${r.expect}] ${r.question.slice(0, 90)} {${r.buttons.join(' | ')}}`);
    if (!rule) break;
    r = await rule.act(page, r);
  }
  if (!r.hasCase) r = await lastReply(page);
  check(r.hasCase, 'a flow of clicks and typing ends with a case card', trail.join('\n'));
  note(`flow: ${trail.length} turns`);
  check(state.buttonsGone === true, 'a clicked row of quick replies disappears');
  check(state.emailInputOk === true, 'the input is type=email / inputmode=email / autocomplete=email, with the server\'s email hint, when an email is expected');
  const card = await page.evaluate(() => {
    const c = document.querySelector('#log .case');
    const dd = (cls) => c && c.querySelector(`.${cls} dd`) ? c.querySelector(`.${cls} dd`).textContent : null;
    return c && { id: dd('case-id'), order: dd('case-order'), email: dd('case-email'), status: c.querySelector('.badge').className };
  });
  check(card && /^PB-\d{6}$/.test(card.id), 'the case card shows a reference like PB-000001', JSON.stringify(card));
  check(card && card.order === ORDER && card.email === NEW_EMAIL, 'the case card shows the order ref and the new email', JSON.stringify(card));
  check(card && /\b(filed|queued)\b/.test(card.status), 'the case card shows status filed or queued', JSON.stringify(card));
  fs.mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, 'chat.png') });

  // 3. a person's HTML is shown as text and executes nothing
  const x = await say(page, XSS).catch((e) => ({ text: '', err: e.message }));
  await page.waitForTimeout(300);
  const dom = await page.evaluate((payload) => {
    const log = document.getElementById('log');
    const mine = [...log.querySelectorAll('.msg.me .bubble')].map((b) => b.textContent);
    return {
      imgs: [...log.querySelectorAll('img')].filter((i) => /(^|\/)x$/.test(i.getAttribute('src') || '')).length,
      anyImg: log.querySelectorAll('img, script, iframe, [onerror]').length,
      mineLiteral: mine.includes(payload),
    };
  }, XSS);
  check(!x.err, 'the bot answers the HTML message', x.err);
  check(dialogs.length === 0, 'typing <img src=x onerror=alert(1)> fires no dialog', dialogs.join('; '));
  check(dom.imgs === 0 && dom.anyImg === 0, 'no <img src=x> (nor any element from the message) is in the transcript', JSON.stringify(dom));
  const echoed = /<img|onerror/i.test(x.text || '');
  check(dom.mineLiteral && (!echoed || (x.text || '').includes(XSS)), 'the HTML appears literally where it is shown', `reply: ${x.text}`);

  // 4. a reload in the middle of a flow resumes it: the page, asked anything
  // ("?"), shows the question, the quick replies and the input it showed before
  const before = await say(page, 'I need to change the provisioning contact email');
  check(before.expect && before.question.length > 10, 'a new flow starts with a question (the state to resume)',
    JSON.stringify(before));
  await page.reload({ timeout: WAIT });
  const again = await page.waitForFunction(() => document.getElementById('status').dataset.state === 'connected', null, { timeout: WAIT })
    .then(() => page.evaluate(() => localStorage.getItem('provbot.session')), () => null);
  check(again && again === session, 'a reload reconnects into the same session', `before ${session}, after ${again}`);
  const after = await say(page, '?').catch((e) => ({ question: '', err: e.message }));
  check(after.expect === before.expect && after.question === before.question
    && JSON.stringify(after.buttons) === JSON.stringify(before.buttons),
  'after the reload the page shows the question pending before it (expect, question, quick replies)',
  `before ${JSON.stringify(before)}\nafter ${JSON.stringify(after)}`);

  // 5. 320 px wide: no horizontal scrolling
  await page.setViewportSize({ width: 320, height: 640 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 0, 'the page fits 320 px without horizontal scrolling', `overflow ${overflow}px`);
  check(pageErrors.length === 0, 'no script errors or CSP violations in the page', pageErrors.join('\n'));

  // 6. a portal embedding the chat hands it an identity token by postMessage:
  // the page sends a hello with it (this server has no secret: bad_token, shown)
  const portal = await context.newPage();
  portal.setDefaultTimeout(WAIT);
  const sent = [];
  portal.on('websocket', (w) => w.on('framesent', (f) => sent.push(String(f.payload))));
  await portal.setContent(`<iframe id="bot" src="${BASE}/" style="width:600px;height:600px"></iframe>`);
  const frame = await (await portal.waitForSelector('#bot')).contentFrame();
  await frame.waitForFunction(() => document.getElementById('status').dataset.state === 'connected', null, { timeout: WAIT });
  await portal.evaluate((origin) => document.getElementById('bot').contentWindow
    .postMessage({ type: 'provbot:token', token: 'aaa.bbb.ccc' }, origin), BASE);
  const shown = await frame.waitForFunction(() => [...document.querySelectorAll('#log .notice.warn')]
    .map((e) => e.textContent).find((t) => /identity tokens/.test(t)), null, { timeout: WAIT })
    .then((h) => h.jsonValue(), () => '');
  const hello = sent.map((x) => { try { return JSON.parse(x); } catch { return {}; } })
    .find((f) => f.type === 'hello' && f.token === 'aaa.bbb.ccc');
  check(Boolean(hello), 'a token posted by the embedding page goes out in a hello', sent.join('\n'));
  check(Boolean(shown), "the server's bad_token answer is shown in the page", shown);
  await browser.close();
}

main().catch(async (e) => {
  check(false, 'the test ran to its end', e.stack || String(e));
  try { await browser?.close(); } catch { /* exiting anyway */ }
}).finally(() => {
  clearTimeout(deadline);
  console.log(`1..${n}`);
  console.log(`# ${n - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
});
