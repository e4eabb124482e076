// The udesk-calls wallboard: today's figures from `callStats`, the latest
// calls from `calls`, kept current by `callUpdated` over graphql-transport-ws.
// No library: the protocol needs a few messages, the chart a few rectangles.
'use strict';
(function () {
  const TOKEN_KEY = 'udesk-calls:token';
  const LATEST = 14;
  const MEASURES = 'inboundCount abandonedCount serviceLevel avgSpeedOfAnswer';
  const CALL_FIELDS = 'conversationId status startedAt workflow callResult customerPhone agentId agentNickName userGroupId userGroupName totalTime recording { archived failed }';
  const offset = document.querySelector('meta[name="udesk-calls-offset"]').content;
  const offsetMs = (function () {
    const m = /^([+-])(\d\d):(\d\d)/.exec(offset);
    if (!m) return 0;
    const minutes = Number(m[2]) * 60 + Number(m[3]);
    return (m[1] === '-' ? -minutes : minutes) * 60000;
  })();
  const $ = (id) => document.getElementById(id);
  let token = sessionStorage.getItem(TOKEN_KEY);
  let measures = true; // false while the server lacks the call-center measures
  let day = null;
  let socket = null;
  let retryMs = 1000;
  let statsTimer = null;
  let latestTimer = null;
  let playing = null; // the object URL the player holds, if any
  const calls = new Map();
  const groupNames = new Map();

  class NeedsToken extends Error {}

  // Dates as read on the service's clock: a Date shifted by its offset, read with UTC getters.
  const pad = (n) => String(n).padStart(2, '0');
  const shifted = (date) => new Date(date.getTime() + offsetMs);
  const dayOf = (date) => `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
  const timeOf = (date) => `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;

  function todayFilter() {
    const now = shifted(new Date());
    const tomorrow = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1));
    return { day: dayOf(now), filter: { startedAt: { from: `${dayOf(now)}T00:00:00${offset}`, to: `${dayOf(tomorrow)}T00:00:00${offset}` } } };
  }

  async function graphql(query, variables) {
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    const response = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    if (response.status === 401) throw new NeedsToken();
    const body = await response.json();
    if (!body.data) throw new Error((body.errors || []).map((e) => e.message).join('; ') || `HTTP ${response.status}`);
    return body.data;
  }

  function status(text, kind) {
    const element = $('live-status');
    element.textContent = text;
    element.className = 'status ' + kind;
  }

  function askForToken(message) {
    if (socket) socket.close();
    socket = null;
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    status('Token needed', 'down');
    $('token-error').textContent = message || '';
    $('token-form').hidden = false;
    $('token-input').focus();
  }

  // Figures ---------------------------------------------------------------

  const count = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en'));
  const percent = (share) => (share === null || share === undefined ? '–' : `${Math.round(share * 100)}%`);
  const seconds = (s) => (s === null || s === undefined ? '–' : s < 60 ? `${Math.round(s)} s` : `${Math.floor(s / 60)}:${pad(Math.round(s % 60))}`);
  const levelClass = (share) => (share === null || share === undefined ? '' : share >= 0.8 ? 'good' : share >= 0.6 ? 'warn' : 'bad');
  // Abandoned calls by their share of the inbound ones: none is good news, not an alarm.
  const abandonedClass = (abandoned, inbound) => {
    if (abandoned === null || abandoned === undefined) return '';
    if (abandoned === 0) return 'good';
    const share = inbound ? abandoned / inbound : 1;
    return share <= 0.05 ? 'warn' : 'bad';
  };

  async function loadStats() {
    const fields = 'count answeredCount' + (measures ? ' ' + MEASURES : '');
    const query = `query Board($today: CallFilter!) {
      total: callStats(filter: $today) { ${fields} }
      groups: callStats(filter: $today, groupBy: [AGENT_GROUP]) { agentGroupId ${fields} }
      hours: callStats(filter: $today, groupBy: [HOUR]) { hour count answeredCount }
      agents { groupId groupName }
    }`;
    let data;
    try {
      data = await graphql(query, { today: todayFilter().filter });
    } catch (error) {
      if (measures && /Unknown field/i.test(error.message)) {
        measures = false; // an older server: show what it has
        return loadStats();
      }
      throw error;
    }
    for (const agent of data.agents) if (agent.groupId && agent.groupName) groupNames.set(agent.groupId, agent.groupName);
    const total = data.total[0] || {};
    $('total-calls').textContent = count(total.count);
    $('total-answered').textContent = count(total.answeredCount);
    $('total-abandoned').textContent = count(total.abandonedCount);
    $('total-abandoned').className = 'value ' + abandonedClass(total.abandonedCount, total.inboundCount);
    $('total-service-level').textContent = percent(total.serviceLevel);
    $('total-service-level').className = 'value ' + levelClass(total.serviceLevel);
    $('total-asa').textContent = seconds(total.avgSpeedOfAnswer);
    renderGroups(data.groups);
    renderHours(data.hours);
  }

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function renderGroups(groups) {
    const body = $('groups');
    body.replaceChildren();
    groups.sort((a, b) => b.count - a.count);
    for (const group of groups) {
      const row = body.insertRow();
      const id = group.agentGroupId;
      cell(row, id === null ? 'No group' : groupNames.get(id) || `Group ${id}`, 'name');
      cell(row, count(group.count), 'num');
      cell(row, count(group.answeredCount), 'num good');
      cell(row, count(group.abandonedCount), 'num ' + abandonedClass(group.abandonedCount, group.inboundCount));
      cell(row, percent(group.serviceLevel), 'num ' + levelClass(group.serviceLevel));
      cell(row, seconds(group.avgSpeedOfAnswer), 'num');
    }
    if (groups.length === 0) cell(body.insertRow(), 'No calls yet today', 'empty').colSpan = 6;
  }

  function svg(name, attributes, text) {
    const element = document.createElementNS('http://www.w3.org/2000/svg', name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    if (text !== undefined) element.textContent = text;
    return element;
  }

  let lastHours = [];

  // Drawn in the chart's own pixels, so its text is never stretched.
  function renderHours(hours) {
    lastHours = hours;
    const chart = $('hours-chart');
    chart.replaceChildren();
    const [boxWidth, boxHeight] = [chart.clientWidth || 960, chart.clientHeight || 320];
    chart.setAttribute('viewBox', `0 0 ${boxWidth} ${boxHeight}`);
    const byHour = new Map(hours.map((h) => [h.hour, h]));
    const most = Math.max(1, ...hours.map((h) => h.count));
    const now = shifted(new Date()).getUTCHours();
    const [left, top, width, height] = [4, 30, boxWidth - 8, boxHeight - 30 - 36];
    const step = width / 24;
    for (let hour = 0; hour < 24; hour += 1) {
      const h = byHour.get(hour) || { count: 0, answeredCount: 0 };
      const x = left + hour * step + step * 0.12;
      const w = step * 0.76;
      const all = (h.count / most) * height;
      const answered = (h.answeredCount / most) * height;
      const bar = svg('g', { class: 'bar' + (hour === now ? ' now' : ''), 'data-hour': hour });
      bar.append(svg('rect', { x, y: top + height - all, width: w, height: all, class: 'other' }));
      bar.append(svg('rect', { x, y: top + height - answered, width: w, height: answered, class: 'answered' }));
      if (h.count > 0) bar.append(svg('text', { x: x + w / 2, y: top + height - all - 6, class: 'count' }, String(h.count)));
      if (hour % 3 === 0) bar.append(svg('text', { x: x + w / 2, y: top + height + 28, class: 'axis' }, pad(hour)));
      chart.append(bar);
    }
    chart.append(svg('line', { x1: left, x2: left + width, y1: top + height, y2: top + height, class: 'baseline' }));
  }

  function refreshStatsSoon() {
    if (statsTimer) return;
    statsTimer = setTimeout(() => {
      statsTimer = null;
      loadStats().catch(failed);
    }, 1000);
  }

  // Latest calls ----------------------------------------------------------

  const mask = (phone) => (phone && phone.length >= 8 ? phone.slice(0, 3) + '****' + phone.slice(-4) : phone || '–');
  const direction = (workflow) => (workflow === 'in' ? '↘ in' : workflow ? '↗ out' : '–');

  // `fresh` calls are highlighted for the first seconds after their update.
  function remember(call, fresh) {
    if (call.userGroupId && call.userGroupName) groupNames.set(call.userGroupId, call.userGroupName);
    calls.set(call.conversationId, { call, updatedAt: fresh ? Date.now() : 0 });
  }

  function renderLatest() {
    const latest = [...calls.values()].sort((a, b) => (a.call.startedAt < b.call.startedAt ? 1 : -1)).slice(0, LATEST);
    for (const id of [...calls.keys()]) if (!latest.some((entry) => entry.call.conversationId === id)) calls.delete(id);
    const body = $('latest-calls');
    body.replaceChildren();
    for (const { call, updatedAt } of latest) {
      const row = body.insertRow();
      row.dataset.conversationId = call.conversationId;
      const fresh = Date.now() - updatedAt < 1000;
      row.className = (call.status === 'IN_PROGRESS' ? 'live' : '') + (fresh ? ' fresh' : '');
      cell(row, call.startedAt ? timeOf(shifted(new Date(call.startedAt))) : '–', 'num');
      cell(row, direction(call.workflow));
      cell(row, mask(call.customerPhone));
      cell(row, call.agentNickName || (call.agentId ? `agent ${call.agentId}` : '–'), 'name');
      cell(row, call.status === 'IN_PROGRESS' ? 'on the line' : call.callResult || '–');
      cell(row, seconds(call.totalTime), 'num');
      recordingCell(row, call);
    }
    if (latest.length === 0) cell(body.insertRow(), 'Waiting for the first call', 'empty').colSpan = 7;
    // A recording is archived a moment after its call ends: look again.
    if (latest.some(({ call }) => archiving(call))) refreshLatestSoon();
  }

  const archiving = (call) => call.status === 'ENDED' && call.recording && !call.recording.archived && !call.recording.failed;

  function recordingCell(row, call) {
    const td = row.insertCell();
    td.className = 'rec';
    if (call.recording && call.recording.archived) {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'play';
      button.dataset.conversationId = call.conversationId;
      button.title = button.ariaLabel = `Play the recording of call ${call.conversationId}`;
      button.textContent = '▶';
      td.append(button);
    } else {
      td.textContent = archiving(call) ? '…' : '';
    }
  }

  function refreshLatestSoon() {
    if (latestTimer) return;
    latestTimer = setTimeout(() => {
      latestTimer = null;
      loadLatest().catch(failed);
    }, 5000);
  }

  // The archived recording, in a player that seeks: streamed with Range
  // when the service needs no token; with one (an <audio> cannot send it),
  // fetched with it and played from memory.
  async function play(conversationId) {
    const player = $('player');
    const url = '/recordings/' + encodeURIComponent(conversationId);
    let source = url;
    if (token) {
      const response = await fetch(url, { headers: { Authorization: 'Bearer ' + token } });
      if (response.status === 401) return askForToken();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      source = URL.createObjectURL(await response.blob());
    }
    if (playing) URL.revokeObjectURL(playing);
    playing = source === url ? null : source;
    player.src = source;
    $('player-call').textContent = `Call ${conversationId}`;
    $('player-box').hidden = false;
    player.play().catch(() => {}); // a browser may wait for a click on the player
  }

  async function loadLatest() {
    const data = await graphql(`query Latest($today: CallFilter!) {
      calls(filter: $today, first: ${LATEST}) { nodes { ${CALL_FIELDS} } } }`, { today: todayFilter().filter });
    calls.clear();
    for (const call of data.calls.nodes) remember(call, false);
    renderLatest();
  }

  // Live updates (graphql-transport-ws) --------------------------------------

  function connect() {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql';
    const ws = new WebSocket(url, 'graphql-transport-ws');
    socket = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'connection_init', payload: token ? { Authorization: 'Bearer ' + token } : {} }));
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === 'connection_ack') {
        const query = `subscription Live($today: CallFilter) { callUpdated(filter: $today) { ${CALL_FIELDS} } }`;
        ws.send(JSON.stringify({ type: 'subscribe', id: 'calls', payload: { query, variables: { today: todayFilter().filter } } }));
        status('Live', 'up');
        retryMs = 1000;
      } else if (message.type === 'next' && message.payload.data) {
        remember(message.payload.data.callUpdated, true);
        renderLatest();
        refreshStatsSoon();
      } else if (message.type === 'ping') {
        ws.send(JSON.stringify({ type: 'pong' }));
      } else if (message.type === 'error') {
        status('Error: ' + message.payload.map((e) => e.message).join('; '), 'down');
      }
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      if (event.code === 4403) return askForToken('That token was not accepted.');
      status('Reconnecting…', 'connecting');
      setTimeout(() => start().catch(failed), retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    };
  }

  // Start, and start again (a new day, a lost connection) ---------------------

  function failed(error) {
    if (error instanceof NeedsToken) return askForToken();
    status('Unreachable: ' + error.message, 'down');
    setTimeout(() => start().catch(failed), retryMs);
    retryMs = Math.min(retryMs * 2, 30000);
  }

  async function start() {
    day = todayFilter().day;
    $('today').textContent = day;
    await Promise.all([loadLatest(), loadStats()]);
    if (!socket) connect();
  }

  // Today's calls as CSV: fetched with the token the page holds (a plain
  // link could not send it), then handed to the browser as a download.
  $('export-today').addEventListener('click', async (event) => {
    event.preventDefault();
    const { filter } = todayFilter();
    const query = new URLSearchParams({ from: filter.startedAt.from, to: filter.startedAt.to });
    const headers = token ? { Authorization: 'Bearer ' + token } : {};
    try {
      const response = await fetch('/export/calls.csv?' + query, { headers });
      if (response.status === 401) return askForToken();
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const link = document.createElement('a');
      link.href = URL.createObjectURL(await response.blob());
      link.download = `calls-${todayFilter().day}.csv`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    } catch (error) {
      $('export-today').textContent = 'CSV failed: ' + error.message;
      setTimeout(() => { $('export-today').textContent = 'CSV'; }, 5000);
    }
  });

  $('latest-calls').addEventListener('click', (event) => {
    const button = event.target.closest('button.play');
    if (!button) return;
    play(button.dataset.conversationId).catch((error) => {
      $('player-call').textContent = 'Could not play: ' + error.message;
      $('player-box').hidden = false;
    });
  });

  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    token = $('token-input').value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    $('token-input').value = '';
    $('token-form').hidden = true;
    start().catch(failed);
  });

  setInterval(() => {
    $('clock').textContent = timeOf(shifted(new Date()));
    if (day && todayFilter().day !== day && socket) socket.close(); // midnight: start over
  }, 1000);
  setInterval(() => { if (socket) loadStats().catch(failed); }, 30000);
  window.addEventListener('resize', () => renderHours(lastHours));
  start().catch(failed);
})();
