package infocus.fiji;

import ij.ImagePlus;
import ij.Macro;
import ij.WindowManager;
import ij.gui.GenericDialog;
import java.awt.GraphicsEnvironment;
import java.util.ArrayList;
import java.util.List;

/**
 * A dialog: a GenericDialog (so macros and the recorder see its keys), or,
 * where none can be built (a truly headless JVM), the macro options read
 * the way GenericDialog reads them: key = the label's first word in lower
 * case, a checkbox is on when its key is present, a missing key keeps the
 * default.
 */
final class Form {
    private final GenericDialog gd;
    private final String options;
    private final List<Object[]> fields = new ArrayList<Object[]>();
    private int next;

    Form(String title) {
        if (GraphicsEnvironment.isHeadless()) {
            gd = null;
            options = Macro.getOptions();
        } else {
            gd = new GenericDialog(title);
            options = null;
        }
    }

    void message(String text) {
        if (gd != null) gd.addMessage(text);
    }

    void choice(String label, String[] items, String def) {
        if (gd != null) gd.addChoice(label, items, def);
        fields.add(new Object[] {label, def});
    }

    void number(String label, double def, int digits, String units) {
        if (gd != null) gd.addNumericField(label, def, digits, 8, units);
        fields.add(new Object[] {label, def});
    }

    void text(String label, String def, int columns) {
        if (gd != null) gd.addStringField(label, def, columns);
        fields.add(new Object[] {label, def});
    }

    void file(String label, String def) {
        if (gd != null) gd.addFileField(label, def, 30);
        fields.add(new Object[] {label, def});
    }

    void checkbox(String label, boolean def) {
        if (gd != null) gd.addCheckbox(label, def);
        fields.add(new Object[] {label, def});
    }

    void image(String label) {
        ImagePlus cur = WindowManager.getCurrentImage();
        if (gd != null) gd.addImageChoice(label, cur == null ? "" : cur.getTitle());
        fields.add(new Object[] {label, ""});
    }

    /** Shows the dialog (not in a macro); false when cancelled. */
    boolean show(String help) {
        if (gd == null) return true;
        if (help != null) gd.addHelp(help);
        gd.showDialog();
        return !gd.wasCanceled();
    }

    private Object[] field() {
        return fields.get(next++);
    }

    private String value(Object[] f) {
        if (options == null) return String.valueOf(f[1] instanceof Double ? num((Double) f[1]) : f[1]);
        return Macro.getValue(options, Macro.trimKey((String) f[0]), String.valueOf(f[1] instanceof Double ? num((Double) f[1]) : f[1]));
    }

    private static String num(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? String.valueOf((long) d) : String.valueOf(d);
    }

    String nextChoice() {
        Object[] f = field();
        return gd != null ? gd.getNextChoice() : value(f);
    }

    String nextText() {
        Object[] f = field();
        return gd != null ? gd.getNextString() : value(f);
    }

    double nextNumber() {
        Object[] f = field();
        if (gd != null) {
            double v = gd.getNextNumber();
            if (gd.invalidNumber()) throw new InfocusException("invalid", "'" + f[0] + "' is not a number");
            return v;
        }
        String v = value(f);
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new InfocusException("invalid", Macro.trimKey((String) f[0]) + "=" + v + " is not a number");
        }
    }

    int nextInt() {
        double v = nextNumber();
        if (v != Math.rint(v) || Math.abs(v) > Integer.MAX_VALUE) {
            throw new InfocusException("invalid", "'" + fields.get(next - 1)[0] + "' must be a whole number, not " + v);
        }
        return (int) v;
    }

    boolean nextBoolean() {
        Object[] f = field();
        if (gd != null) return gd.getNextBoolean();
        if (options == null) return (Boolean) f[1];
        String key = Macro.trimKey((String) f[0]);
        return (" " + options + " ").contains(" " + key + " ") || (" " + options + " ").contains(" " + key + "=");
    }

    ImagePlus nextImage() {
        Object[] f = field();
        if (gd != null) return gd.getNextImage();
        String title = value(f);
        ImagePlus imp = WindowManager.getImage(title);
        if (imp == null) throw new InfocusException("invalid", "no open image is called '" + title + "'");
        return imp;
    }
}
