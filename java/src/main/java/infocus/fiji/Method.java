package infocus.fiji;

/**
 * The rule method of Focus Map, Segment and Depth Map: a preset with the
 * paper preset's sliding-window map and the default preset's band. The
 * macro keys are the CLI's flags: preset, measure, window, strides, dof,
 * min_contrast, radius, smoothing (and threshold, level for Segment).
 */
public final class Method {
    public static final String[] PRESETS = {"default", "paper"};
    public static final String[] MEASURES = {"brenner", "tenengrad", "laplacian", "smd", "vollath", "std",
        "variance", "entropy", "dwt"};
    public static final String[] THRESHOLDS = {"preset", "otsu-stack", "otsu-slice", "fixed"};

    public String preset = "default";
    public String measure = Defaults.get("measure");
    public int window = (int) Defaults.number("window");
    public String strides = Defaults.get("strides");
    /** Depth of field in slices; 0: estimated. */
    public double dof = 0;
    public double minContrast = Defaults.number("min_contrast");
    public int radius = (int) Defaults.number("radius");
    public int smoothing = (int) Defaults.number("smoothing");
    public String threshold = "preset";
    public float level = 0;

    /** Adds the fields to a form (Segment adds the threshold). */
    void addTo(Form f, boolean withThreshold) {
        f.choice("Preset", PRESETS, preset);
        f.message("paper preset: the sliding-window map");
        f.choice("Measure", MEASURES, measure);
        f.number("Window", window, 0, "px");
        f.text("Strides", strides, 18);
        f.message("default preset: depth from focus and the depth of field");
        f.number("Dof", dof, 2, "slices (0: estimate)");
        f.number("Min_contrast", minContrast, 2, "x noise");
        f.number("Radius", radius, 0, "px");
        f.number("Smoothing", smoothing, 0, "px");
        if (withThreshold) {
            f.choice("Threshold", THRESHOLDS, threshold);
            f.number("Level", level, 3, "(fixed threshold)");
        }
    }

    /** Reads the fields back, in the same order. */
    void readFrom(Form f, boolean withThreshold) {
        preset = f.nextChoice();
        measure = f.nextChoice();
        window = f.nextInt();
        strides = f.nextText();
        dof = f.nextNumber();
        minContrast = f.nextNumber();
        radius = f.nextInt();
        smoothing = f.nextInt();
        if (withThreshold) {
            threshold = f.nextChoice();
            level = (float) f.nextNumber();
        }
    }
}
