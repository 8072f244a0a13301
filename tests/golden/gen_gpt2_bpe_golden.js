// Writes tests/golden/gpt2_bpe_encodings.json: test strings and their ids under the JavaScript GPT-2
// encoder of the npm package gpt-3-encoder (the reference for tests/tokenize/test_gpt2_bpe.cpp).
// Run from the repository root after `bash scripts/fetch_data.sh`:
//   node tests/golden/gen_gpt2_bpe_golden.js data/cache/gpt-3-encoder > tests/golden/gpt2_bpe_encodings.json
// Strings avoid U+0085 and U+FEFF, the two characters whose \s membership differs between
// JavaScript and Python's `regex` (OpenAI's reference).
const path = require('path');
const { encode } = require(path.resolve(process.argv[2] || 'data/cache/gpt-3-encoder', 'Encoder.js'));

const texts = [
  '',
  'Hello world',
  'Hello, world! How are you today?',
  "I'm sure they're fine; we've said you'll see he'd know it's done.",
  "DON'T SHOUT, it'S odd: 'quoted' and ''double''",
  'a  b   c    d',
  'trailing spaces   ',
  '   leading spaces',
  'tabs\tand\t\ttabs',
  'line one\nline two\n\n\nline five\r\nwindows',
  '  \n  \n',
  'numbers 12345 678.9 3,000,000 and 2024-06-12',
  '0123456789 00 007 1e10 -42 +7 3.14159265358979',
  'café naïve résumé coöperate Zürich',
  'e\u0301 combining accent',
  '日本語のテキストと漢字',
  'Ελληνικά κείμενα και Русский текст',
  'العربية نص',
  'emoji 😀👍🏽 and 🏳️‍🌈 flags',
  'non\u00a0breaking\u00a0space and thin\u2009space',
  '!!!???...,,,;;;:::',
  'a,b,c ,d, e ,, f',
  'hello,world:foo;bar',
  '<|endoftext|> is plain text here',
  'Mr. O\'Neil\'s dog\'s bone',
  'x = f(y) + g[z] * {w}; // comment',
  'https://example.com/path?query=1&b=2#frag',
  '$100.00 & 50% off @ #hashtag',
  'ALLCAPS lowercase MiXeD CamelCaseWord',
  'supercalifragilisticexpialidocious antidisestablishmentarianism',
  '  = Valkyria Chronicles III = \n',
  'The quick brown fox jumps over the lazy dog. ' + 'Again and again. '.repeat(5),
  'Fellow-Citizens of the Senate and of the House of Representatives:',
  // Long single pieces: the merge order over thousands of symbols (scanlab merges through a heap).
  'a'.repeat(4000),
  'ab'.repeat(2500),
  ' ' + 'ha'.repeat(1500),
  '1'.repeat(3000),
  'x' + 'yz'.repeat(1999),
  (() => {  // 3000 letters from a fixed linear congruential sequence
    let s = 1, w = '';
    for (let i = 0; i < 3000; ++i) {
      s = (s * 1103515245 + 12345) % 2147483648;
      w += 'etaoinshrdlu'[s % 12];
    }
    return w;
  })(),
];
const out = texts.map(text => ({ text, ids: encode(text) }));
process.stdout.write(JSON.stringify({ source: 'npm gpt-3-encoder@1.1.4 Encoder.js encode()', cases: out }, null, 1) + '\n');
