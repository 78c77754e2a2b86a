// The chat page: sends each question, shows the answer as the server renders it (sanitized HTML
// over server-sent events, each closed block once, the open one replaced), stops, regenerates,
// edits, copies. When the person's conversations are kept, the page continues the one it shows
// and sends only the question: the server reads the rest from its store. Otherwise the
// conversation lives in this page only, nothing of it is kept on the server, and the page sends
// all of it with each question.

import { csrfToken } from './app.js';

const form = document.getElementById('composer');
const transcript = document.getElementById('transcript');
const questionBox = document.getElementById('question');
const model = document.getElementById('model');
const level = document.getElementById('level');
/** The library asked, when the person may read any ("ask this library"). */
const library = document.getElementById('library');
const send = document.getElementById('send');
const stop = document.getElementById('stop');
const status = document.getElementById('status');
const texts = document.getElementById('texts').dataset;

/**
 * The conversation so far, as the API takes it. A reopened conversation's answers are kept on the
 * server and only shown here (`content: null`); its questions are their text.
 */
const history = [...transcript.querySelectorAll('.turn')].map((turn) => ({
  role: turn.dataset.role,
  content: turn.dataset.role === 'user' ? turn.querySelector('.body').textContent : null,
}));
/** The kept conversation this page continues, if any. */
let conversation = form.dataset.conversation || null;
let controller = null;

function bubble(role) {
  const article = document.createElement('article');
  article.className = `turn ${role}`;
  const body = document.createElement('div');
  body.className = 'body';
  article.append(body);
  transcript.append(article);
  return article;
}

function button(label, action) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'quiet';
  b.textContent = label;
  b.addEventListener('click', action);
  return b;
}

/**
 * An answer's body as it streams: each closed block appended once, the block still open replaced
 * only when its HTML changed. Only the nodes of the new fragment are touched and nothing is read
 * back from the page, so a fragment costs its own size and forces no layout.
 */
function streamedBody(body) {
  /** The open block's nodes, and their HTML as last shown. */
  let open = [];
  let openHtml = '';
  return {
    grow(settled, html) {
      if (!settled && html === openHtml) return;
      for (const node of open) node.remove();
      if (settled) body.insertAdjacentHTML('beforeend', settled);
      const before = body.lastChild;
      body.insertAdjacentHTML('beforeend', html);
      open = [];
      let node = before ? before.nextSibling : body.firstChild;
      for (; node; node = node.nextSibling) open.push(node);
      openHtml = html;
    },
    /** The whole answer, or a refusal, in place of what is shown. */
    replace(html) {
      body.innerHTML = html;
      open = [];
      openHtml = '';
    },
  };
}

/** Reads the server's events from a streamed response, calling `on(name, data)` for each. */
async function readEvents(response, on) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const raw = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      let data = '';
      for (const line of raw.split('\n')) {
        if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      on(name, JSON.parse(data));
    }
  }
}

function busy(on) {
  send.disabled = on;
  stop.hidden = !on;
  questionBox.disabled = on;
}

/**
 * The answer's actions: copy it (its Markdown when it was written in this page, else its text as
 * shown); regenerate it and edit the question while it is the last (`last`: the length of the
 * conversation that ends with it); thumbs up or down.
 */
function actions(article, text, last = history.length) {
  const bar = document.createElement('div');
  bar.className = 'actions';
  const shown = () => article.querySelector('.body').innerText;
  bar.append(button(texts.copy, () => navigator.clipboard.writeText(text ?? shown())));
  const isLast = () => history.length === last && !controller;
  bar.append(button(texts.regenerate, () => {
    if (!isLast()) return;
    history.pop();
    article.remove();
    ask();
  }));
  bar.append(button(texts.edit, () => {
    if (!isLast()) return;
    history.pop();
    const question = history.pop();
    article.previousElementSibling.remove();
    article.remove();
    questionBox.value = question.content;
    questionBox.focus();
  }));
  article.append(bar);
  if (article.dataset.requestId) feedback(article, article.dataset.requestId);
}

/** A copy button on each code block of an answer. */
function copyButtons(body) {
  for (const pre of body.querySelectorAll('pre')) {
    pre.setAttribute('tabindex', '0');
    const copy = button(texts.copy, () => navigator.clipboard.writeText(pre.textContent));
    copy.classList.add('copy-code');
    pre.after(copy);
  }
}

/** Thumbs up or down on an answer, with an optional comment, stored against its usage record. */
function feedback(article, requestId) {
  const bar = article.querySelector('.actions');
  const form = document.createElement('form');
  form.className = 'feedback';
  form.hidden = true;
  const id = `comment-${requestId}`;
  const label = document.createElement('label');
  label.htmlFor = id;
  label.textContent = texts.comment;
  const input = document.createElement('input');
  input.id = id;
  input.maxLength = 4000;
  const submit = document.createElement('button');
  submit.type = 'submit';
  submit.textContent = texts.sendFeedback;
  form.append(label, input, submit);
  let rating = null;
  for (const [value, text] of [['up', texts.up], ['down', texts.down]]) {
    const thumb = button(text, () => {
      rating = value;
      for (const other of bar.querySelectorAll('[aria-pressed]')) other.setAttribute('aria-pressed', 'false');
      thumb.setAttribute('aria-pressed', 'true');
      form.hidden = false;
      input.focus();
    });
    thumb.setAttribute('aria-pressed', 'false');
    bar.append(thumb);
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const comment = input.value.trim();
    const response = await fetch('/chat/feedback', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken() },
      body: JSON.stringify({ request_id: requestId, rating, comment: comment || null, conversation }),
    });
    const note = document.createElement('p');
    note.className = response.ok ? 'muted' : 'error';
    note.setAttribute('role', 'status');
    note.textContent = response.ok ? texts.thanks : texts.feedbackFailed;
    form.replaceWith(note);
  });
  article.append(form);
}


/** The fields of the chosen assistant's variables; `null` when it has none or a model is chosen. */
function variableFields() {
  return [...document.querySelectorAll('fieldset.variables')].find((f) => f.dataset.for === model.value) || null;
}

/** Shows the variables of the assistant chosen, and only them. */
function showVariables() {
  const shown = variableFields();
  for (const fieldset of document.querySelectorAll('fieldset.variables')) fieldset.hidden = fieldset !== shown;
}

/** The chosen assistant's variables, as its template takes them. */
function variables() {
  const fields = variableFields();
  if (!fields) return null;
  return Object.fromEntries([...fields.querySelectorAll('[data-variable]')].map((input) => [input.dataset.variable, input.value]));
}

/**
 * Sends the person's question, the last turn: alone with its place in a kept conversation, else
 * with the whole conversation.
 */
async function ask() {
  const article = bubble('assistant');
  const body = article.querySelector('.body');
  const shown = streamedBody(body);
  let text = '';
  controller = new AbortController();
  busy(true);
  status.textContent = texts.thinking;
  try {
    const response = await fetch('/chat/send', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken() },
      body: JSON.stringify({
        model: model.value,
        level: level.value,
        messages: conversation ? history.slice(-1) : history,
        conversation,
        position: conversation ? history.length - 1 : null,
        variables: variables(),
        library: library && library.value ? library.value : null,
      }),
      signal: controller.signal,
    });
    if (!response.ok) {
      body.textContent = await response.text();
      return;
    }
    await readEvents(response, (name, data) => {
      if (name === 'answer') {
        shown.grow(data.settled, data.open);
        text += data.delta;
      } else if (name === 'rendered') {
        shown.replace(data.html);
      } else if (name === 'notice') {
        const notice = document.createElement('p');
        notice.className = 'notice';
        notice.textContent = data.text;
        article.prepend(notice);
      } else if (name === 'conversation') {
        if (!conversation) window.history.replaceState(null, '', `/c/${data.id}`);
        conversation = data.id;
      } else if (name === 'citations') {
        const sources = document.createElement('div');
        sources.className = 'sources';
        sources.innerHTML = data.html;
        article.append(sources);
      } else if (name === 'refused') {
        shown.replace(data.html);
      } else if (name === 'done') {
        article.dataset.requestId = data.request_id || '';
        status.textContent = texts.done;
      }
    });
  } catch (error) {
    if (error.name !== 'AbortError') throw error;
    const note = document.createElement('p');
    note.className = 'muted';
    note.textContent = texts.stopped;
    article.append(note);
    status.textContent = texts.stopped;
  } finally {
    controller = null;
    busy(false);
    if (text) {
      history.push({ role: 'assistant', content: text });
      actions(article, text);
    }
    copyButtons(body);
    questionBox.focus();
  }
}

// A reopened conversation's answers get their actions as a new answer does.
[...transcript.querySelectorAll('.turn')].forEach((turn, position) => {
  if (turn.dataset.role !== 'assistant') return;
  copyButtons(turn.querySelector('.body'));
  actions(turn, null, position + 1);
});

const attachment = document.getElementById('attachment');
const attachedBox = document.getElementById('attached');
/** The attached document's text, read on the server, until it goes with the next question. */
let attached = null;

function showAttached() {
  attachedBox.hidden = !attached;
  document.getElementById('attached-name').textContent = attached ? attached.name : '';
}

attachment.addEventListener('change', async () => {
  const file = attachment.files[0];
  if (!file) return;
  attached = null;
  const query = new URLSearchParams({ name: file.name, model: model.value });
  const response = await fetch(`/chat/attach?${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'x-csrf-token': csrfToken() },
    body: file,
  });
  attachment.value = '';
  if (response.ok) attached = await response.json();
  status.textContent = response.ok ? '' : await response.text();
  showAttached();
});

document.getElementById('detach').addEventListener('click', () => {
  attached = null;
  showAttached();
});

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const question = questionBox.value.trim();
  if ((!question && !attached) || controller) return;
  const article = bubble('user');
  article.querySelector('.body').textContent = attached ? `${question}\n📎 ${attached.name}` : question;
  // The document's text goes with the question, so the data policy reads it like any text.
  const content = attached
    ? `${question}\n\n---\n${texts.attached} : ${attached.name}\n\n${attached.text}`
    : question;
  history.push({ role: 'user', content });
  questionBox.value = '';
  attached = null;
  showAttached();
  ask();
});

questionBox.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    form.requestSubmit();
  }
});

stop.addEventListener('click', () => controller && controller.abort());
model.addEventListener('change', showVariables);
showVariables();
