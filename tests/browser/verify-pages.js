#!/usr/bin/env node
// Headless-Chromium test of Chop's public verification pages (issue 7 §6), driven with
// playwright-core and Debian's chromium. Run by api/tests/server_pages.rs against a running
// `chop serve`; it can also be run by hand:
//
//   CHOP_BASE_URL=http://127.0.0.1:8080 CHOP_SEALED_PDF=a.pdf CHOP_TAMPERED_PDF=t.pdf \
//   CHOP_NOT_PDF=x.json CHOP_VALID_ID=… CHOP_REVOKED_ID=… CHOP_REVOKED_REASON=… \
//   CHOP_HOLDER_NAME=… CHOP_HOLDER_CODE=… CHOP_ARTIFACTS=target/test-artifacts/verify-pages \
//   node tests/browser/verify-pages.js
//
// Each check prints `ok - …`; the first failure prints `not ok - …`, saves a screenshot of the
// page as it was and exits 1. Screenshots of every page, at 375 px (a phone) and 1280 px, are
// kept in CHOP_ARTIFACTS.
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`not ok - environment variable ${name} is required`);
    process.exit(2);
  }
  return v;
}

const base = need('CHOP_BASE_URL').replace(/\/$/, '');
const sealed = need('CHOP_SEALED_PDF');
const tampered = need('CHOP_TAMPERED_PDF');
const notPdf = need('CHOP_NOT_PDF');
const validId = need('CHOP_VALID_ID');
const revokedId = need('CHOP_REVOKED_ID');
const revokedReason = need('CHOP_REVOKED_REASON');
const holderName = need('CHOP_HOLDER_NAME');
const holderCode = need('CHOP_HOLDER_CODE');
const artifacts = need('CHOP_ARTIFACTS');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

fs.mkdirSync(artifacts, { recursive: true });

let current = null; // the page of the check running now, for the failure screenshot
let passed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (e) {
    console.log(`not ok - ${name}`);
    console.log(String(e && e.stack ? e.stack : e).split('\n').map((l) => '  # ' + l).join('\n'));
    if (current) {
      const file = path.join(artifacts, 'FAILED-' + name.replace(/[^A-Za-z0-9]+/g, '-') + '.png');
      try {
        await current.screenshot({ path: file, fullPage: true });
        console.log(`  # screenshot: ${file}`);
        console.log('  # page text: ' + (await current.innerText('body')).slice(0, 2000).replace(/\n/g, ' | '));
      } catch (_) { /* the page may be gone */ }
    }
    throw e;
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, name + '.png'), fullPage: true });
}

// The page fits the viewport's width: nothing needs horizontal scrolling.
async function fitsWidth(page, what) {
  const { scroll, width } = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    width: window.innerWidth,
  }));
  assert(scroll <= width, `${what}: the page is ${scroll}px wide in a ${width}px viewport`);
}

async function text(page, selector) {
  return (await page.locator(selector).first().innerText()).trim();
}

async function upload(page, file, { expectStatus } = {}) {
  await page.setInputFiles('input[type=file]', file);
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.click('button[type=submit]'),
  ]);
  if (expectStatus !== undefined) {
    assert(response && response.status() === expectStatus,
      `expected HTTP ${expectStatus}, got ${response && response.status()}`);
  }
  return response;
}

async function run(browser, label, contextOptions) {
  const context = await browser.newContext(contextOptions);
  const page = await context.newPage();
  current = page;
  const outside = [];
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith('data:')) outside.push(u);
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Expected 404 and 422 pages make Chromium log "Failed to load resource"; what matters is
  // that no sub-resource (style sheet, script, picture) fails and no script throws.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  page.on('response', (r) => {
    if (r.request().resourceType() !== 'document' && r.status() >= 400) {
      errors.push(`${r.status()} for ${r.url()}`);
    }
  });

  await check(`${label}: /verify is in Chinese by default and fits the screen`, async () => {
    const r = await page.goto(`${base}/verify`);
    assert(r.status() === 200, `status ${r.status()}`);
    assert((await page.getAttribute('html', 'lang')) === 'zh-CN', 'html lang is not zh-CN');
    const h1 = await text(page, 'h1');
    assert(h1.includes('核验'), `heading: ${h1}`);
    await fitsWidth(page, '/verify');
    await shot(page, `verify-form-${label}`);
  });

  await check(`${label}: a sealed PDF gets the valid verdict`, async () => {
    await upload(page, sealed, { expectStatus: 200 });
    const v = page.locator('[data-testid=verdict]');
    assert((await v.getAttribute('data-verdict')) === 'valid', 'verdict is not valid');
    const t = await v.innerText();
    assert(t.includes('文件有效'), `verdict text: ${t}`);
    assert(t.includes('签章后内容未被修改'), `verdict does not say the document is unchanged: ${t}`);
    assert((await text(page, '[data-testid=indication]')).startsWith('TOTAL-PASSED'), 'indication');
    assert(await page.locator('.seal img').count() >= 1, 'no seal picture');
    assert(/^\d{8}-[0-9A-Z]{8}$/.test(await text(page, '[data-testid=reference]')), 'no 核验编号');
    await fitsWidth(page, 'valid result');
    await shot(page, `verify-valid-${label}`);
  });

  await check(`${label}: a tampered PDF is reported as altered`, async () => {
    await page.goto(`${base}/verify`);
    await upload(page, tampered, { expectStatus: 200 });
    const v = page.locator('[data-testid=verdict]');
    assert((await v.getAttribute('data-verdict')) === 'altered', 'verdict is not altered');
    const t = await v.innerText();
    assert(t.includes('文件已被篡改') && t.includes('请勿采信'), `verdict text: ${t}`);
    assert((await text(page, '[data-testid=indication]')).startsWith('TOTAL-FAILED'), 'indication');
    await fitsWidth(page, 'tampered result');
    await shot(page, `verify-tampered-${label}`);
  });

  await check(`${label}: a file that is not a PDF gets a friendly 422 page`, async () => {
    await page.goto(`${base}/verify`);
    await upload(page, notPdf, { expectStatus: 422 });
    const t = await text(page, '[data-testid=upload-error]');
    assert(t.includes('不是 PDF'), `error text: ${t}`);
    assert(await page.locator('form.upload').count() === 1, 'the form is not shown again');
    await shot(page, `verify-not-pdf-${label}`);
  });

  await check(`${label}: the revoked licence's page says 已吊销 with the reason, holder masked`, async () => {
    const r = await page.goto(`${base}/v/${revokedId}`);
    assert(r.status() === 200, `status ${r.status()}`);
    const s = page.locator('[data-testid=licence-status]');
    assert((await s.getAttribute('data-status')) === 'revoked', 'status is not revoked');
    assert((await s.innerText()).includes('已吊销'), 'no 已吊销');
    assert((await text(page, '[data-testid=status-reason]')).includes(revokedReason), 'no reason');
    const body = await page.innerText('body');
    assert(!body.includes(holderCode), 'the holder code is shown unmasked');
    assert(!body.includes(holderName), 'the holder name is shown unmasked');
    const code = await text(page, '[data-testid=holder-code]');
    assert(code === holderCode.slice(0, 4) + '*'.repeat(holderCode.length - 8) + holderCode.slice(-4),
      `holder code mask: ${code}`);
    const name = await text(page, '[data-testid=holder-name]');
    assert(name.startsWith([...holderName].slice(0, 2).join('')) && name.includes('**'), `holder name mask: ${name}`);
    assert(/^\d{8}-[0-9A-Z]{8}$/.test(await text(page, '[data-testid=reference]')), 'no 核验编号');
    const img = page.locator('.seal img');
    assert(await img.count() === 1, 'no seal picture');
    assert(await img.evaluate((i) => i.complete && i.naturalWidth > 0), 'the seal picture did not load');
    await fitsWidth(page, 'revoked licence');
    await shot(page, `licence-revoked-${label}`);
  });

  await check(`${label}: the English switch works and is remembered`, async () => {
    await Promise.all([page.waitForNavigation(), page.click('[data-testid=lang-switch]')]);
    assert((await page.getAttribute('html', 'lang')) === 'en', 'html lang is not en');
    const s = await text(page, '[data-testid=licence-status]');
    assert(s.includes('Revoked'), `status text: ${s}`);
    await shot(page, `licence-revoked-en-${label}`);
    await page.goto(`${base}/verify`);
    assert((await page.getAttribute('html', 'lang')) === 'en', 'the language was not remembered');
    assert((await text(page, 'h1')).includes('Check'), 'the form is not in English');
    await upload(page, sealed, { expectStatus: 200 });
    assert((await text(page, '[data-testid=verdict]')).includes('The document is valid'), 'English verdict');
    await shot(page, `verify-valid-en-${label}`);
    await Promise.all([page.waitForNavigation(), page.click('[data-testid=lang-switch]')]);
    assert((await page.getAttribute('html', 'lang')) === 'zh-CN', 'switching back to Chinese failed');
  });

  await check(`${label}: a valid licence's page says 有效 and its stored PDF verifies`, async () => {
    await page.goto(`${base}/v/${validId}`);
    const s = page.locator('[data-testid=licence-status]');
    assert((await s.getAttribute('data-status')) === 'valid', 'status is not valid');
    assert((await s.innerText()).includes('有效'), 'no 有效');
    const c = page.locator('[data-testid=signature-check]');
    assert((await c.getAttribute('data-verdict')) === 'valid', 'the stored PDF does not verify');
    await fitsWidth(page, 'valid licence');
    await shot(page, `licence-valid-${label}`);
  });

  await check(`${label}: an unknown licence gets a 404 page`, async () => {
    const r = await page.goto(`${base}/v/nosuchlicence0000000000000`);
    assert(r.status() === 404, `status ${r.status()}`);
    assert((await text(page, '[data-testid=licence-status]')).includes('未找到该证照'), 'no 未找到');
    await shot(page, `licence-unknown-${label}`);
  });

  await check(`${label}: nothing was loaded from another origin and no script failed`, async () => {
    assert(outside.length === 0, 'requests elsewhere: ' + outside.join(', '));
    assert(errors.length === 0, 'page errors: ' + errors.join(' | '));
  });
  await context.close();
}

async function dragAndDrop(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  current = page;
  await check('desktop: a PDF dropped on the form is verified', async () => {
    await page.goto(`${base}/verify`);
    assert(await page.locator('form.upload.js').count() === 1, 'the script did not run');
    const b64 = fs.readFileSync(sealed).toString('base64');
    const dt = await page.evaluateHandle((data) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const t = new DataTransfer();
      t.items.add(new File([bytes], 'licence.pdf', { type: 'application/pdf' }));
      return t;
    }, b64);
    await page.dispatchEvent('.drop', 'dragenter', { dataTransfer: dt });
    await page.dispatchEvent('.drop', 'drop', { dataTransfer: dt });
    const name = await text(page, '[data-testid=file-name]');
    assert(name.startsWith('licence.pdf'), `file name shown: ${name}`);
    await shot(page, 'verify-dropped-desktop');
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    const v = page.locator('[data-testid=verdict]');
    assert((await v.getAttribute('data-verdict')) === 'valid', 'verdict is not valid');
  });
  await context.close();
}

async function withoutScript(browser) {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 375, height: 812 } });
  const page = await context.newPage();
  current = page;
  await check('mobile, JavaScript off: the plain form uploads and verifies', async () => {
    await page.goto(`${base}/verify`);
    assert(await page.locator('form.upload.js').count() === 0, 'the script ran');
    await upload(page, sealed, { expectStatus: 200 });
    const v = page.locator('[data-testid=verdict]');
    assert((await v.getAttribute('data-verdict')) === 'valid', 'verdict is not valid');
    await shot(page, 'verify-valid-noscript-mobile');
  });
  await context.close();
}

(async () => {
  const browser = await chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update'],
  });
  try {
    await run(browser, 'mobile', {
      viewport: { width: 375, height: 812 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    await run(browser, 'desktop', { viewport: { width: 1280, height: 900 } });
    await dragAndDrop(browser);
    await withoutScript(browser);
    console.log(`# ${passed} checks passed; screenshots in ${artifacts}`);
  } finally {
    await browser.close();
  }
})().catch(() => {
  process.exitCode = 1;
});
