// Test vectors for Spillway's `!{timestamp:PATTERN}` evaluator (formats/src/prefix/pattern/).
//
// Prints what java.time does for DateTimeFormatter.ofPattern(pattern, Locale.US).withZone(zone)
// .format(instant), the way Amazon Data Firehose evaluates S3 prefix timestamps and OpenSearch
// index rotation. Java 17, no dependencies:
//
//     java formats/src/prefix/pattern/PatternVectors.java formats/src/prefix/pattern
//
// writes OUT_DIR/java_vectors.tsv (pattern, instant, zone, output) and OUT_DIR/java_zone_names.tsv
// (the z / zzzz / v / vvvv names of every zone id Java knows, in en-US).
// An output of `ERROR Class: message` is an exception: with instant and zone `-` it came from
// ofPattern (Java refuses the pattern), otherwise from format.

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.time.zone.ZoneOffsetTransition;
import java.time.zone.ZoneRules;
import java.time.zone.ZoneRulesProvider;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;

public class PatternVectors {
    static final String[] INSTANTS = {
        "2016-01-01T00:00:00Z", // Friday; ISO week 53 of 2015, US week 1 of 2016; midnight
        "2016-02-25T13:00:00Z", // OpenSearch OneWeek example: 2016-w09
        "2016-02-29T23:59:59.999999999Z", // leap day, last nanosecond
        "2018-08-27T10:30:00Z",
        "2019-12-29T08:05:03.123456789Z", // Sunday: US week 1 of 2020, ISO week 52 of 2019
        "2020-12-31T12:00:00Z", // Thursday noon: US week 1 of 2021, ISO week 53 of 2020
        "2021-01-03T23:30:00.5Z", // Sunday: US week 2 of 2021, ISO week 53 of 2020
        "2024-03-10T07:00:00Z", // New York switches to EDT
        "2024-10-05T15:30:00Z", // Lord Howe switches to +11 (half-hour DST)
        "2024-07-01T18:45:00.000001Z",
        "1969-07-20T20:17:40Z", // before 1970
        "1969-12-31T23:59:59.123456789Z", // negative epoch second with a fraction
        "1850-06-15T06:07:08Z", // local mean time: offsets with seconds
        "-0044-03-15T12:00:00Z", // 45 BC: era, year-of-era vs proleptic year
        "2150-07-04T16:00:00Z", // past chrono-tz's tables (2099): Java applies the last rules
        "+10000-01-01T00:00:00Z", // five-digit year
    };

    static final String[] SOME_INSTANTS = {
        "2016-02-25T13:00:00Z", "2019-12-29T08:05:03.123456789Z", "+10000-01-01T00:00:00Z",
    };

    // "Z" is ZoneOffset.UTC; the others are ZoneId.of(id) regions ("UTC" included).
    static final String[] ZONES = {
        "Z", "UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Europe/London",
        "Asia/Kathmandu", "Europe/Dublin",
    };

    /** More zones for the zone names alone: aliases, negative DST, CLDR's explicit DST offsets. */
    static final String[] NAME_ZONES = {
        "Africa/Casablanca", "Africa/Windhoek", "America/Vancouver", "Eire", "Europe/Prague",
        "America/St_Johns", "Asia/Calcutta", "Etc/GMT+5", "GMT", "Etc/UTC", "Pacific/Chatham",
    };

    static final String[] NAME_INSTANTS = {
        "2016-01-01T00:00:00Z", "2016-07-01T12:00:00Z", "2018-08-27T10:30:00Z",
        "2019-05-15T12:00:00Z", // Ramadan: Morocco's negative DST
        "2024-03-10T07:00:00Z", "2017-12-01T00:00:00Z", "1947-01-15T12:00:00Z",
        "1969-07-20T20:17:40Z", "1850-06-15T06:07:08Z",
        "2022-11-01T00:00:00Z", // Morocco's +01 after 2018: Java calls it daylight time
        "1995-01-15T00:00:00Z", // Namibia's summer in its negative-DST years
        "1985-06-01T00:00:00Z", // Morocco's +01 standard time of 1984-1985
    };

    /** Every letter and count, each formatted at every instant in UTC. */
    static final String[] FIELD_PATTERNS = {
        "G", "GG", "GGG", "GGGG", "GGGGG",
        "y", "yy", "yyy", "yyyy", "yyyyy", "yyyyyyyyy", "yyyyyyyyyyyyyyyyyyy",
        "u", "uu", "uuu", "uuuu", "uuuuu", "uuuuuuuuuuuuuuuuuuu",
        "D", "DD", "DDD",
        "M", "MM", "MMM", "MMMM", "MMMMM",
        "L", "LL", "LLL", "LLLL", "LLLLL",
        "d", "dd",
        "Q", "QQ", "QQQ", "QQQQ", "QQQQQ",
        "q", "qq", "qqq", "qqqq", "qqqqq",
        "Y", "YY", "YYY", "YYYY", "YYYYY", "YYYYYYYYYYYYYYYYYYY", "YYYYYYYYYYYYYYYYYYYY",
        "w", "ww", "W",
        "E", "EE", "EEE", "EEEE", "EEEEE",
        "e", "ee", "eee", "eeee", "eeeee",
        "c", "ccc", "cccc", "ccccc",
        "F",
        "a", "h", "hh", "K", "KK", "k", "kk", "H", "HH", "m", "mm", "s", "ss",
        "S", "SS", "SSS", "SSSS", "SSSSS", "SSSSSS", "SSSSSSS", "SSSSSSSS", "SSSSSSSSS",
        "A", "AA", "AAAAAAAAA", "AAAAAAAAAAAAAAAAAAA",
        "n", "nn", "nnnnnnnnnn", "nnnnnnnnnnnnnnnnnnn",
        "N", "NN", "NNNNNNNNNNNNNNNNNNN",
        "g", "gg", "ggggggg", "ggggggggggggggggggg",
        "B", "BBBB", "BBBBB",
        // Firehose and OpenSearch rotation patterns.
        "yyyy/MM/dd/HH", "yyyy-MM-dd-HH", "yyyy-MM-dd", "yyyy-MM", "YYYY-'w'ww",
        "uuuu-MM-dd'T'HH:mm:ss.SSSSSSSSS",
    };

    /** Zone-dependent letters, at every instant in every zone. */
    static final String[] ZONE_PATTERNS = {
        "VV z zzzz v vvvv",
        "Z ZZ ZZZ ZZZZ ZZZZZ O OOOO",
        "X XX XXX XXXX XXXXX",
        "x xx xxx xxxx xxxxx",
        "uuuu-MM-dd'T'HH:mm:ss.SSS G y D",
        "YYYY-'w'ww W e c EEE F",
        "h:mm a B K k A",
        "yyyy[MM][VV]",
        "pppppppppppz",
    };

    /** Syntax: literals, quotes, optional sections, padding, refusals; at a few instants. */
    static final String[] SYNTAX_PATTERNS = {
        "", " ", "-_.:/ ,;()!@$%^&*+=~`|<>?\\\"", "yyyy/MM/dd/HH/",
        // Quotes.
        "'", "''", "'''", "''''", "'''''", "''''''", "'a''b'", "'yyyy'", "yyyy'", "'it''s' yyyy",
        "'' yyyy ''", "'x'", "'#{}[]'", "a''a", "'a'''", "''''yyyy''''",
        // Optional sections.
        "yyyy[MM]", "[VV]", "yyyy[-MM[-dd]]", "[", "yyyy[", "[]", "[[]]", "['lit']", "]",
        "yyyy]", "[yyyy]]", "[[yyyy]", "yyyy[ 'x' ]MM", "[p]",
        // Padding.
        "pd", "ppd", "pppMMM", "ppppMMMM", "pppppppppppMMMM", "ppH:mm", "pHmm", "ppHmm",
        "yyyyppMM", "yyyyppMMdd", "ppyyyy", "ppyyyyMM", "ppSSS", "ssppSSS", "ppEEE", "ppa",
        "pppppVV", "pppppppppp", "p", "pp", "p'x'", "p#", "p[yyyy]", "p1", "ppp ", "pyy",
        "pppppppppppppppppppppyyyy",
        // Reserved characters.
        "#", "{", "}", "yyyy#", "yyyy{MM}", "'#'", "'{'", "'}'",
        // Non-ASCII letters and symbols are literals.
        "yyyyé", "日", "ü", "ñyyyy", "ẞ", "😀", "Ω", "µ",
    };

    /** Letters and counts that Java refuses (plus a few it may not). */
    static final String[] ERROR_PATTERNS = {
        "b", "f", "i", "j", "l", "o", "r", "t", "C", "I", "J", "P", "R", "T", "U",
        "GGGGGG", "yyyyyyyyyyyyyyyyyyyy", "uuuuuuuuuuuuuuuuuuuu", "DDDD", "MMMMMM", "LLLLLL",
        "ddd", "QQQQQQ", "qqqqqq", "www", "WW", "EEEEEE", "eeeeee", "cc", "cccccc", "FF", "aa",
        "hhh", "KKK", "kkk", "HHH", "mmm", "sss", "SSSSSSSSSS", "AAAAAAAAAAAAAAAAAAAA",
        "nnnnnnnnnnnnnnnnnnnn", "NNNNNNNNNNNNNNNNNNNN", "gggggggggggggggggggg",
        "V", "VVV", "vv", "vvv", "vvvvv", "zzzzz", "ZZZZZZ", "OO", "OOO", "OOOOO", "XXXXXX",
        "xxxxxx", "BB", "BBB", "BBBBBB", "yyyy-MM-ddTHH", "yyyy-MM-dd'T'HH:mm:ssZb",
    };

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args.length > 0 ? args[0] : ".");
        String java = System.getProperty("java.version");
        String tzdb = ZoneRulesProvider.getVersions("UTC").lastKey();
        List<String> rows = new ArrayList<>();
        rows.add("# java " + java + ", tzdb " + tzdb
                + ": DateTimeFormatter.ofPattern(pattern, Locale.US).withZone(zone).format(instant)");
        rows.add("pattern\tinstant\tzone\toutput");
        for (String p : FIELD_PATTERNS) emit(rows, p, INSTANTS, new String[] {"UTC"});
        for (String p : ZONE_PATTERNS) emit(rows, p, INSTANTS, ZONES);
        emit(rows, "VV z zzzz v vvvv O", NAME_INSTANTS, NAME_ZONES);
        for (String p : SYNTAX_PATTERNS) emit(rows, p, SOME_INSTANTS, new String[] {"UTC"});
        for (String p : ERROR_PATTERNS) emit(rows, p, SOME_INSTANTS, new String[] {"UTC"});
        Files.write(dir.resolve("java_vectors.tsv"), rows, StandardCharsets.UTF_8);
        System.out.println("java_vectors.tsv: " + (rows.size() - 2) + " vectors (java " + java
                + ", tzdb " + tzdb + ")");

        List<String> names = new ArrayList<>();
        names.add("# java " + java + ", tzdb " + tzdb + ": names DateTimeFormatter prints in en-US");
        names.add("zone\tz standard\tzzzz standard\tz daylight\tzzzz daylight\tv\tvvvv");
        for (String id : new TreeSet<>(ZoneId.getAvailableZoneIds())) names.add(zoneNames(id));
        Files.write(dir.resolve("java_zone_names.tsv"), names, StandardCharsets.UTF_8);
        System.out.println("java_zone_names.tsv: " + (names.size() - 2) + " zones");
    }

    static void emit(List<String> rows, String pattern, String[] instants, String[] zones) {
        DateTimeFormatter formatter;
        try {
            formatter = DateTimeFormatter.ofPattern(pattern, Locale.US);
        } catch (RuntimeException e) {
            rows.add(pattern + "\t-\t-\t" + error(e));
            return;
        }
        for (String zone : zones) {
            DateTimeFormatter zoned = formatter.withZone(ZoneId.of(zone));
            for (String instant : instants) {
                String out;
                try {
                    out = zoned.format(Instant.parse(instant));
                } catch (RuntimeException e) {
                    out = error(e);
                }
                rows.add(pattern + "\t" + instant + "\t" + zone + "\t" + out);
            }
        }
    }

    static String error(RuntimeException e) {
        return "ERROR " + e.getClass().getSimpleName() + ": " + e.getMessage();
    }

    /** The names are fixed per zone; only which of standard / daylight depends on the instant. */
    static String zoneNames(String id) {
        ZoneId zone = ZoneId.of(id);
        ZoneRules rules = zone.getRules();
        List<Instant> candidates = new ArrayList<>();
        candidates.add(Instant.parse("2024-01-15T00:00:00Z"));
        candidates.add(Instant.parse("2024-07-15T00:00:00Z"));
        List<ZoneOffsetTransition> transitions = rules.getTransitions();
        if (!transitions.isEmpty()) candidates.add(transitions.get(0).getInstant().minusSeconds(1));
        for (ZoneOffsetTransition t : transitions) candidates.add(t.getInstant());
        Instant standard = null;
        Instant daylight = null;
        for (Instant i : candidates) {
            if (rules.isDaylightSavings(i)) {
                if (daylight == null) daylight = i;
            } else if (standard == null) {
                standard = i;
            }
        }
        return id + "\t" + names(zone, standard) + "\t" + names(zone, daylight) + "\t"
                + names(zone, candidates.get(0), "v", "vvvv");
    }

    static String names(ZoneId zone, Instant at) {
        return at == null ? "\t" : names(zone, at, "z", "zzzz");
    }

    static String names(ZoneId zone, Instant at, String short_, String long_) {
        return DateTimeFormatter.ofPattern(short_, Locale.US).withZone(zone).format(at) + "\t"
                + DateTimeFormatter.ofPattern(long_, Locale.US).withZone(zone).format(at);
    }
}
