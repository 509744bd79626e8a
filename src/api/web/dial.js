// R-CONS-3 / R-XFER-6 as the agent types: the same rule the desk applies
// (crates/desk/src/dial.rs), checked before anything is sent.

const NUMBER_MIN = 3;
const NUMBER_MAX = 18;

// {ok, target, message}: target is what will be dialled.
export function checkTarget(input) {
  const t = input.trim();
  if (t === '') return { ok: false, target: '', message: 'Type a number or a SIP address.' };
  const lower = t.toLowerCase();
  if (lower.startsWith('sip:') || lower.startsWith('sips:')) {
    const rest = t.slice(t.indexOf(':') + 1);
    if (rest === '' || /\s/.test(rest)) {
      return { ok: false, target: t, message: `"${t}" is not a valid SIP address (R-CONS-3).` };
    }
    return { ok: true, target: t, message: `Will call ${t}` };
  }
  const number = [...t].filter((c) => /[0-9+#*:]/.test(c)).join('');
  if (number.length < NUMBER_MIN || number.length > NUMBER_MAX) {
    return {
      ok: false,
      target: number,
      message: `A dial number keeps digits and + # * : only and needs ${NUMBER_MIN} to ${NUMBER_MAX} of them; this one has ${number.length} (R-CONS-3).`,
    };
  }
  return { ok: true, target: number, message: `Will dial ${number}` };
}
