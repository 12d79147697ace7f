package infocus.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.measure.Calibration;
import java.util.Arrays;

/**
 * Compares TIFF files pairwise, as ImageJ reads them: size, type, every
 * slice's pixels byte for byte, and the calibration. Prints one line per
 * pair ("same A B" or "DIFFERENT A B: why") and exits 1 if any differ.
 * Usage: java infocus.fiji.SameTiff A1 B1 [A2 B2 ...]
 */
public final class SameTiff {
    private SameTiff() {}

    public static void main(String[] args) {
        int bad = 0;
        for (int i = 0; i + 1 < args.length; i += 2) {
            String why = compare(args[i], args[i + 1]);
            if (why == null) {
                System.out.println("same " + args[i] + " " + args[i + 1]);
            } else {
                bad++;
                System.out.println("DIFFERENT " + args[i] + " " + args[i + 1] + ": " + why);
            }
        }
        System.exit(bad == 0 ? 0 : 1);
    }

    /** Null when the two files hold the same image, else why not. */
    static String compare(String a, String b) {
        ImagePlus x = IJ.openImage(a), y = IJ.openImage(b);
        if (x == null || y == null) return "cannot open " + (x == null ? a : b);
        if (x.getBitDepth() != y.getBitDepth()) return "bit depth " + x.getBitDepth() + " vs " + y.getBitDepth();
        if (x.getWidth() != y.getWidth() || x.getHeight() != y.getHeight() || x.getStackSize() != y.getStackSize()) {
            return "size " + x.getWidth() + "x" + x.getHeight() + "x" + x.getStackSize() + " vs " + y.getWidth() + "x"
                + y.getHeight() + "x" + y.getStackSize();
        }
        for (int k = 1; k <= x.getStackSize(); k++) {
            Object p = x.getStack().getPixels(k), q = y.getStack().getPixels(k);
            boolean same;
            if (p instanceof byte[]) same = Arrays.equals((byte[]) p, (byte[]) q);
            else if (p instanceof short[]) same = Arrays.equals((short[]) p, (short[]) q);
            else same = bitsEqual((float[]) p, (float[]) q);
            if (!same) return "pixels of slice " + k + " differ";
        }
        Calibration c = x.getCalibration(), d = y.getCalibration();
        // ImageJ writes no z spacing for a single image, so it reads back as 1 there.
        boolean zMatters = x.getStackSize() > 1;
        if (c.pixelWidth != d.pixelWidth || c.pixelHeight != d.pixelHeight
                || (zMatters && c.pixelDepth != d.pixelDepth) || !c.getUnit().equals(d.getUnit())) {
            return "calibration " + c + " vs " + d;
        }
        return null;
    }

    private static boolean bitsEqual(float[] p, float[] q) {
        if (p.length != q.length) return false;
        for (int i = 0; i < p.length; i++) {
            if (Float.floatToRawIntBits(p[i]) != Float.floatToRawIntBits(q[i])) return false;
        }
        return true;
    }
}
