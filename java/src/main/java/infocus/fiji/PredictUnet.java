package infocus.fiji;

import ij.IJ;
import ij.ImagePlus;

/**
 * Plugins > infocus > Predict U-Net...: the in-focus masks (8-bit, 0/255)
 * of the current stack from a model file, and its probabilities if asked,
 * as {@code infocus predict}.
 */
public class PredictUnet extends Command {
    /** The model and how to predict. */
    public static final class Spec {
        public String model = "";
        public float threshold = (float) Defaults.number("threshold");
        public int tile = (int) Defaults.number("tile");
        public int overlap = (int) Defaults.number("overlap");
        /** Average each tile over its mirror images (false: one pass, 4x faster; the key no_flips). */
        public boolean flips = true;
        public String device = "auto";
        public int threads = 0;
        public boolean probabilities;
    }

    @Override
    String name() {
        return "Predict U-Net";
    }

    @Override
    ImagePlus[] runOn(ImagePlus imp) {
        Input in = Input.of(imp, 1);
        Spec s = new Spec();
        Form f = new Form("infocus: Predict U-Net");
        f.file("Model", IJ.getDirectory("home") + "infocus-unet.safetensors");
        f.number("Threshold", s.threshold, 2, "probability");
        f.number("Tile", s.tile, 0, "px");
        f.number("Overlap", s.overlap, 0, "px");
        f.checkbox("No_flips", !s.flips);
        f.choice("Device", Training.DEVICES, s.device);
        f.number("Threads", 0, 0, "(0: libtorch's default)");
        f.checkbox("Probabilities", false);
        if (!f.show(null)) return null;
        s.model = f.nextText();
        s.threshold = (float) f.nextNumber();
        s.tile = f.nextInt();
        s.overlap = f.nextInt();
        s.flips = !f.nextBoolean();
        s.device = f.nextChoice();
        s.threads = f.nextInt();
        s.probabilities = f.nextBoolean();
        return execute(in, s, new Bar("predict"));
    }

    /** {mask} or {mask, probabilities}, not shown. */
    public static ImagePlus[] execute(final Input in, final Spec s, final Native.Progress p) {
        Object[] r = Native.call(new Native.Call<Object[]>() {
            public Object[] run() {
                return Native.predictUnet(in.slices, in.pixelType, in.width, in.height, s.model, s.threshold, s.tile,
                    s.overlap, s.flips, s.device, s.threads, s.probabilities, p);
            }
        });
        ImagePlus mask = Results.stack(in.name + "-unet-mask", (Object[]) r[0], in, true);
        if (r[1] == null) return new ImagePlus[] {mask};
        return new ImagePlus[] {mask, Results.stack(in.name + "-unet-prob", (Object[]) r[1], in, false)};
    }
}
