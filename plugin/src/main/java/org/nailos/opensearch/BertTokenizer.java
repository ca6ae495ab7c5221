package org.nailos.opensearch;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.util.Arrays;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * A BERT WordPiece tokenizer that gives, bit for bit, the ids of the Hugging Face {@code tokenizers} package
 * (Rust) for a {@code tokenizer.json} with a {@code BertNormalizer}, a {@code BertPreTokenizer} and a
 * {@code WordPiece} model, encoded without special tokens and without truncation.
 *
 * <p>Each step mirrors the Rust source it names: {@code normalizers/bert.rs} (clean text, Chinese characters,
 * accents, lower case), {@code pre_tokenizers/bert.rs} (whitespace and punctuation), {@code models/wordpiece}
 * (greedy longest match, {@code ##} continuation, [UNK] for a word over {@code max_input_chars_per_word}) and
 * {@code tokenizer/added_vocabulary.rs} (added tokens such as [CLS] are matched in the raw text first).
 */
public final class BertTokenizer {

    private final Map<String, Integer> vocab;
    private final int unkId;
    private final String prefix;
    private final int maxInputCharsPerWord;
    private final boolean cleanText;
    private final boolean handleChineseChars;
    private final boolean stripAccents;
    private final boolean lowercase;
    /** Added tokens matched before normalization (their {@code normalized} flag is false), longest first. */
    private final List<String> addedTokens;
    private final Map<String, Integer> addedIds;

    BertTokenizer(Map<String, Integer> vocab, String unkToken, String prefix, int maxInputCharsPerWord,
                  boolean cleanText, boolean handleChineseChars, boolean stripAccents, boolean lowercase,
                  Map<String, Integer> addedTokens) {
        this.vocab = vocab;
        Integer unk = vocab.get(unkToken);
        if (unk == null) {
            throw new IllegalArgumentException("unk_token [" + unkToken + "] is not in the vocabulary");
        }
        this.unkId = unk;
        this.prefix = prefix;
        this.maxInputCharsPerWord = maxInputCharsPerWord;
        this.cleanText = cleanText;
        this.handleChineseChars = handleChineseChars;
        this.stripAccents = stripAccents;
        this.lowercase = lowercase;
        this.addedIds = new HashMap<>(addedTokens);
        this.addedTokens = new ArrayList<>(addedTokens.keySet());
        // Leftmost-longest matching (the Rust side uses aho-corasick with MatchKind::LeftmostLongest).
        this.addedTokens.sort((a, b) -> Integer.compare(b.length(), a.length()));
    }

    /** Token ids of {@code text}, in order, with no special tokens added (they may still occur in the text). */
    public List<Integer> encode(String text) {
        List<Integer> ids = new ArrayList<>();
        int start = 0;
        while (start <= text.length()) {
            int bestAt = -1;
            String best = null;
            for (String token : addedTokens) {
                int at = text.indexOf(token, start);
                if (at >= 0 && (bestAt < 0 || at < bestAt)) {
                    bestAt = at;
                    best = token;
                }
            }
            int end = bestAt < 0 ? text.length() : bestAt;
            encodeSegment(text.substring(start, end), ids);
            if (best == null) {
                break;
            }
            ids.add(addedIds.get(best));
            start = bestAt + best.length();
        }
        return ids;
    }

    private void encodeSegment(String segment, List<Integer> ids) {
        if (segment.isEmpty()) {
            return;
        }
        for (String word : preTokenize(normalize(segment))) {
            wordPiece(word, ids);
        }
    }

    /** BertNormalizer: clean text, pad Chinese characters, strip accents (NFD, drop Mn), lower case. */
    String normalize(String text) {
        StringBuilder out = new StringBuilder(text.length() + 8);
        text.codePoints().forEach(c -> {
            if (cleanText) {
                if (isControl(c)) {
                    return;
                }
                if (isWhitespace(c)) {
                    c = ' ';
                }
            }
            if (handleChineseChars && isChineseChar(c)) {
                out.append(' ').appendCodePoint(c).append(' ');
            } else {
                out.appendCodePoint(c);
            }
        });
        String s = out.toString();
        if (stripAccents) {
            String nfd = Normalizer.normalize(s, Normalizer.Form.NFD);
            StringBuilder kept = new StringBuilder(nfd.length());
            nfd.codePoints().filter(c -> charClass(c) != 'M')
                .forEach(kept::appendCodePoint);
            s = kept.toString();
        }
        if (lowercase) {
            StringBuilder lower = new StringBuilder(s.length());
            // Rust lower-cases char by char with the full, context-free mapping (İ -> i̇, Σ -> σ always);
            // String.toLowerCase of one code point gives the same (no final-sigma context to see).
            s.codePoints().forEach(c -> {
                if (c < 0x80) {
                    lower.append((char) (c >= 'A' && c <= 'Z' ? c + 32 : c));
                } else {
                    lower.append(new String(Character.toChars(c)).toLowerCase(Locale.ROOT));
                }
            });
            s = lower.toString();
        }
        return s;
    }

    /** BertPreTokenizer: split on whitespace (dropped) and on punctuation (each mark its own word). */
    static List<String> preTokenize(String text) {
        List<String> words = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        text.codePoints().forEach(c -> {
            if (isWhitespace(c) || isPunctuation(c)) {
                if (word.length() > 0) {
                    words.add(word.toString());
                    word.setLength(0);
                }
                if (!isWhitespace(c)) {
                    words.add(new String(Character.toChars(c)));
                }
            } else {
                word.appendCodePoint(c);
            }
        });
        if (word.length() > 0) {
            words.add(word.toString());
        }
        return words;
    }

    /** WordPiece: greedy longest match from the left; a word with an unmatched piece becomes one [UNK]. */
    private void wordPiece(String word, List<Integer> ids) {
        if (word.codePointCount(0, word.length()) > maxInputCharsPerWord) {
            ids.add(unkId);
            return;
        }
        List<Integer> pieces = new ArrayList<>();
        int start = 0;
        while (start < word.length()) {
            int end = word.length();
            Integer found = null;
            while (start < end) {
                String sub = word.substring(start, end);
                found = vocab.get(start > 0 ? prefix + sub : sub);
                if (found != null) {
                    break;
                }
                end -= Character.charCount(word.codePointBefore(end));
            }
            if (found == null) {
                ids.add(unkId);
                return;
            }
            pieces.add(found);
            start = end;
        }
        ids.addAll(pieces);
    }

    /** Character classes of the {@code tokenizers} package's own Unicode tables (tools/unicode_classes.py). */
    private static final int[] CLASS_START;
    private static final int[] CLASS_END;
    private static final char[] CLASS;

    static {
        List<int[]> ranges = new ArrayList<>();
        List<Character> classes = new ArrayList<>();
        try (InputStream in = BertTokenizer.class.getResourceAsStream("unicode-classes.txt");
             BufferedReader reader = new BufferedReader(new InputStreamReader(
                 Objects.requireNonNull(in, "unicode-classes.txt is missing from the plugin jar"),
                 StandardCharsets.UTF_8))) {
            String line;
            while ((line = reader.readLine()) != null) {
                if (line.isEmpty() || line.startsWith("#")) {
                    continue;
                }
                String[] f = line.split(" ");
                ranges.add(new int[] {Integer.parseInt(f[0], 16), Integer.parseInt(f[1], 16)});
                classes.add(f[2].charAt(0));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        CLASS_START = new int[ranges.size()];
        CLASS_END = new int[ranges.size()];
        CLASS = new char[ranges.size()];
        for (int i = 0; i < ranges.size(); i++) {
            CLASS_START[i] = ranges.get(i)[0];
            CLASS_END[i] = ranges.get(i)[1];
            CLASS[i] = classes.get(i);
        }
    }

    /** 'C' removed by clean_text, 'W' whitespace, 'M' stripped with accents, 'P' punctuation, '-' anything else. */
    static char charClass(int c) {
        int i = Arrays.binarySearch(CLASS_START, c);
        if (i < 0) {
            i = -i - 2;  // the range starting before c
        }
        return i >= 0 && c <= CLASS_END[i] ? CLASS[i] : '-';
    }

    /** bert.rs {@code is_whitespace} (\t \n \r and Rust's {@code char::is_whitespace}). */
    static boolean isWhitespace(int c) {
        return charClass(c) == 'W';
    }

    /** bert.rs {@code is_control}, plus the NUL and U+FFFD that clean_text also removes. */
    static boolean isControl(int c) {
        return charClass(c) == 'C';
    }

    /** bert.rs {@code is_bert_punc}: ASCII punctuation (symbols such as $ + &lt; included) or Unicode P*. */
    static boolean isPunctuation(int c) {
        return charClass(c) == 'P';
    }

    /** bert.rs {@code is_chinese_char}: the CJK Unified Ideograph blocks BERT pads with spaces. */
    static boolean isChineseChar(int c) {
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
            || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
            || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
    }

    public int vocabSize() {
        return vocab.size();
    }
}
