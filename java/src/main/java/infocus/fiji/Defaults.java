package infocus.fiji;

import ij.Macro;

/** The library's defaults (one source: the Rust core), read once. */
final class Defaults {
    private static String options;

    private Defaults() {}

    static synchronized String get(String key) {
        if (options == null) options = Native.defaultOptions();
        String v = Macro.getValue(options, key, null);
        if (v == null) throw new InfocusException("internal", "the library gives no default for " + key);
        return v;
    }

    static double number(String key) {
        return Double.parseDouble(get(key));
    }
}
