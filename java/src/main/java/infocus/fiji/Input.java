package infocus.fiji;

import ij.ImagePlus;
import ij.ImageStack;
import ij.measure.Calibration;

/** A focal stack taken from an ImagePlus: its slice arrays, pixel type and calibration. */
public final class Input {
    public final Object[] slices;
    /** The C ABI's pixel type: 0 = 8-bit, 1 = 16-bit, 2 = 32-bit. */
    public final int pixelType;
    public final int width;
    public final int height;
    public final Calibration calibration;
    /** The image's title without extension, for the titles of the results. */
    public final String name;
    /** How the slices were chosen from a hyperstack, or null for a plain stack. */
    public final String note;

    public Input(Object[] slices, int pixelType, int width, int height, Calibration calibration, String name, String note) {
        this.slices = slices;
        this.pixelType = pixelType;
        this.width = width;
        this.height = height;
        this.calibration = calibration;
        this.name = name;
        this.note = note;
    }

    /**
     * The Z slices of {@code imp}: all of a plain stack, or those of the
     * current channel and frame of a hyperstack. Refuses images infocus
     * cannot use with a message that says why.
     *
     * @param minSlices 2 for commands that need a focal stack, 1 for those
     *     that work slice by slice (the U-Net)
     */
    public static Input of(ImagePlus imp, int minSlices) {
        if (imp == null) throw invalid("no image is open; open a focal stack first");
        int type;
        switch (imp.getType()) {
            case ImagePlus.GRAY8: type = 0; break;
            case ImagePlus.GRAY16: type = 1; break;
            case ImagePlus.GRAY32: type = 2; break;
            case ImagePlus.COLOR_RGB:
                throw invalid("'" + imp.getTitle() + "' is an RGB image; infocus needs 8-bit, 16-bit or 32-bit grayscale "
                    + "(Image > Type > 8-bit or 16-bit, or Image > Color > Split Channels)");
            default:
                throw invalid("'" + imp.getTitle() + "' is an 8-bit color (indexed) image; infocus needs 8-bit, 16-bit or "
                    + "32-bit grayscale (Image > Type > 8-bit)");
        }
        ImageStack stack = imp.getStack();
        int nc = imp.getNChannels(), nz = imp.getNSlices(), nt = imp.getNFrames();
        Object[] slices;
        String note = null;
        if (nc * nz * nt != stack.getSize() || (nc == 1 && nt == 1)) {
            slices = new Object[stack.getSize()];
            for (int i = 0; i < slices.length; i++) slices[i] = stack.getPixels(i + 1);
        } else {
            int c = imp.getC(), t = imp.getT();
            slices = new Object[nz];
            for (int z = 1; z <= nz; z++) slices[z - 1] = stack.getPixels(imp.getStackIndex(c, z, t));
            note = "channel " + c + " of " + nc + ", frame " + t + " of " + nt;
        }
        if (slices.length < minSlices) {
            String what = note == null ? "a single 2-D image" : "a hyperstack with " + slices.length + " slice (" + note + ")";
            throw invalid("'" + imp.getTitle() + "' is " + what + "; this command needs a focal stack of at least "
                + minSlices + " slices (Z)");
        }
        return new Input(slices, type, imp.getWidth(), imp.getHeight(), imp.getCalibration().copy(),
            imp.getShortTitle(), note);
    }

    private static InfocusException invalid(String m) {
        return new InfocusException("invalid", m);
    }
}
