package infocus.fiji;

import ij.ImagePlus;
import ij.ImageStack;
import ij.process.StackStatistics;

/** New images from the library's slice arrays, keeping the input's calibration. */
final class Results {
    private Results() {}

    /** A stack from slice arrays; {@code mask}: displayed 0..255. */
    static ImagePlus stack(String title, Object[] slices, Input in, boolean mask) {
        ImageStack s = new ImageStack(in.width, in.height);
        for (int k = 0; k < slices.length; k++) s.addSlice("" + (k + 1), slices[k]);
        ImagePlus imp = new ImagePlus(title, s);
        imp.setCalibration(in.calibration.copy());
        if (mask) {
            imp.setDisplayRange(0, 255);
        } else if (slices.length > 1) {
            StackStatistics st = new StackStatistics(imp);
            imp.setDisplayRange(st.min, st.max);
        } else {
            imp.resetDisplayRange();
        }
        return imp;
    }

    /** A single image from one slice array. */
    static ImagePlus image(String title, Object pixels, Input in) {
        return stack(title, new Object[] {pixels}, in, false);
    }
}
