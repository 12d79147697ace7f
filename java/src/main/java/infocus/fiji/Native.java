package infocus.fiji;

import ij.IJ;
import ij.Menus;
import java.io.File;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * The native library (libinfocus) through JNI: its methods are implemented
 * in Rust (src/fiji.rs) over the same core as the C ABI and the CLI.
 *
 * <p>Stacks are passed as ImageJ's own slice arrays ({@code byte[]},
 * {@code short[]} or {@code float[]}, one per slice); pixel types are the C
 * ABI's numbers: 0 = 8-bit, 1 = 16-bit, 2 = 32-bit float. Failures arrive as
 * {@link InfocusException}; nothing the library is given can crash the JVM.
 */
public final class Native {
    private Native() {}

    /** Progress of a long call; it may be called from the library's worker threads. */
    public interface Progress {
        /** {@code done} of {@code total} units are finished; return false to cancel. */
        boolean report(long done, long total);

        /** A training epoch ended (1-based), with its loss and validation IoU. */
        void epoch(int epoch, int epochs, double loss, double valIou);
    }

    private static boolean loaded;
    private static String loadedFrom;

    /**
     * Loads libinfocus once, from the first of: the system property
     * {@code infocus.library} or the environment variable
     * {@code INFOCUS_LIBRARY} (a file), {@code lib/<platform>/} of the
     * ImageJ/Fiji folder, of the folder above the plugins folder and of the
     * folder above this jar's, then {@code java.library.path}. A library of
     * another version than this jar's is refused.
     */
    public static synchronized void load() {
        if (loaded) return;
        String name = System.mapLibraryName("infocus");
        List<String> tried = new ArrayList<String>();
        String explicit = System.getProperty("infocus.library");
        if (explicit == null || explicit.isEmpty()) explicit = System.getenv("INFOCUS_LIBRARY");
        try {
            if (explicit != null && !explicit.isEmpty()) {
                System.load(new File(explicit).getAbsolutePath());
                loadedFrom = explicit;
            } else {
                for (File dir : candidateDirs()) {
                    File f = new File(new File(dir, "lib"), platform() + File.separator + name);
                    tried.add(f.getPath());
                    if (f.isFile()) {
                        System.load(f.getAbsolutePath());
                        loadedFrom = f.getPath();
                        break;
                    }
                }
                if (loadedFrom == null) {
                    tried.add("java.library.path");
                    System.loadLibrary("infocus");
                    loadedFrom = "java.library.path";
                }
            }
        } catch (UnsatisfiedLinkError e) {
            throw new InfocusException("library", "cannot load the infocus native library " + name
                + " (looked in " + String.join(", ", tried.isEmpty() ? java.util.Collections.singletonList(String.valueOf(explicit)) : tried)
                + "): " + e.getMessage()
                + ". Copy " + name + " into Fiji.app/lib/" + platform() + "/ (see the README).");
        }
        String want = jarVersion();
        String have = version();
        if (want != null && !want.equals(have)) {
            throw new InfocusException("library", "the infocus native library at " + loadedFrom + " is version "
                + have + " but this plugin is " + want + "; copy the matching " + name);
        }
        loaded = true;
    }

    /** Where the library was loaded from (after {@link #load}). */
    public static String loadedFrom() {
        return loadedFrom;
    }

    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase();
        boolean is64 = System.getProperty("os.arch", "").contains("64");
        if (os.startsWith("mac")) return "macosx";
        if (os.startsWith("win")) return is64 ? "win64" : "win32";
        return is64 ? "linux64" : "linux32";
    }

    private static List<File> candidateDirs() {
        List<File> dirs = new ArrayList<File>();
        try {
            String ij = IJ.getDirectory("imagej");
            if (ij != null) dirs.add(new File(ij));
        } catch (Throwable t) {
            // not inside ImageJ (tests): skip
        }
        try {
            String plugins = Menus.getPlugInsPath();
            if (plugins != null) dirs.add(new File(plugins).getAbsoluteFile().getParentFile());
        } catch (Throwable t) {
            // no menus: skip
        }
        try {
            File jar = new File(Native.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            File up = jar.getParentFile() == null ? null : jar.getParentFile().getParentFile();
            if (up != null) dirs.add(up);
        } catch (Exception e) {
            // no code source: skip
        }
        return dirs;
    }

    /** The version this jar was built for (from Cargo.toml), or null when unknown. */
    public static String jarVersion() {
        InputStream in = Native.class.getResourceAsStream("version.txt");
        if (in == null) return null;
        try {
            java.util.Scanner s = new java.util.Scanner(in, "UTF-8");
            String v = s.hasNextLine() ? s.nextLine().trim() : null;
            s.close();
            return v;
        } catch (Exception e) {
            return null;
        }
    }

    // ---- the native methods (src/fiji.rs) -------------------------------

    static native String version();

    static native boolean unetAvailable();

    static native String defaults();

    static native Object[] focusMap(Object[] slices, int pixelType, int width, int height,
        String preset, String measure, int window, String strides, double dof, double minContrast,
        int radius, int smoothing, Progress progress);

    static native Object[] segment(Object[] slices, int pixelType, int width, int height,
        String preset, String measure, int window, String strides, double dof, double minContrast,
        int radius, int smoothing, String threshold, float level, boolean map, boolean inFocus,
        boolean depth, boolean allInFocus, Progress progress);

    static native String trainUnet(Object[] slices, int pixelType, int width, int height,
        String preset, String config, int depth, int baseChannels, String norm, int context, int profile,
        int guide, int epochs, int batch, int patch, double lr, int patience, double valFraction, long seed, boolean augment,
        double[] loss, String device, int threads, String output, Progress progress);

    static native String finetuneUnet(Object[] slices, int pixelType, Object[] masks, int maskType,
        int width, int height, String model, String slicesList, boolean freezeEncoder, int epochs,
        int batch, int patch, double lr, int patience, double valFraction, long seed, boolean augment,
        double[] loss, String device, int threads, String output, Progress progress);

    static native Object[] predictUnet(Object[] slices, int pixelType, int width, int height,
        String model, float threshold, int tile, int overlap, boolean flips, String device, int threads,
        boolean prob, Progress progress);

    // ---- checked wrappers ---------------------------------------------------

    /** The library's version ("0.1.0"). */
    public static String libraryVersion() {
        load();
        return call(new Call<String>() { public String run() { return version(); } });
    }

    /** Whether the library was built with the U-Net (libtorch). */
    public static boolean hasUnet() {
        load();
        return call(new Call<Boolean>() { public Boolean run() { return unetAvailable(); } });
    }

    /** Every default of the dialogs, as macro options ("key=value ..."). */
    public static String defaultOptions() {
        load();
        return call(new Call<String>() { public String run() { return defaults(); } });
    }

    interface Call<T> {
        T run();
    }

    /** Runs a native call, turning whatever it throws into an InfocusException. */
    static <T> T call(Call<T> c) {
        load();
        try {
            return c.run();
        } catch (Throwable t) {
            throw InfocusException.of(t);
        }
    }
}
