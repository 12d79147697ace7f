package infocus.fiji;

import ij.IJ;
import ij.ImagePlus;

/**
 * Plugins > infocus > Train U-Net...: trains a new U-Net on the weak labels
 * a rule preset makes for the current stack and writes the model file, as
 * {@code infocus train}.
 */
public class TrainUnet extends Command {
    public static final String[] CONFIGS = {"default", "paper"};
    public static final String[] NORMS = {"config", "instance", "batch", "none"};
    /** Whether the network sees the focus profile: the configuration's, on or off. */
    public static final String[] PROFILES = {"config", "on", "off"};
    /** Whether the network sees the default preset's band: the configuration's, on or off. */
    public static final String[] GUIDES = PROFILES;

    /** The architecture and where the model goes. */
    public static final class Spec {
        public String output = "";
        public String labels = "default";
        public String config = "default";
        /** 0: the configuration's. */
        public int depth = 0, baseChannels = 0;
        public String norm = "config";
        /** Pairs of neighbouring slices the network sees; -1: the configuration's. */
        public int context = -1;
        /** The focus profile as an input: "config" (the configuration's), "on" or "off". */
        public String profile = "config";
        /** The default preset's band as an input: "config" (the configuration's), "on" or "off". */
        public String guide = "config";

        /** -1: the configuration's; 1: on; 0: off (images only, as the paper). */
        int profileFlag() {
            return flag(profile, "focus_profile");
        }

        /** -1: the configuration's; 1: on; 0: off (no guide, as the paper). */
        int guideFlag() {
            return flag(guide, "preset_guide");
        }

        private static int flag(String value, String key) {
            if (value.equals("config")) return -1;
            if (value.equals("on")) return 1;
            if (value.equals("off")) return 0;
            throw new InfocusException("invalid", key + " must be config, on or off, not '" + value + "'");
        }
    }

    @Override
    String name() {
        return "Train U-Net";
    }

    @Override
    ImagePlus[] runOn(ImagePlus imp) {
        Input in = Input.of(imp, 1);
        Spec s = new Spec();
        Training t = new Training(false);
        Form f = new Form("infocus: Train U-Net");
        f.file("Output", IJ.getDirectory("home") + "infocus-unet.safetensors");
        f.choice("Labels", Method.PRESETS, s.labels);
        f.choice("Config", CONFIGS, s.config);
        f.number("Depth", 0, 0, "levels (0: the config's)");
        f.number("Base_channels", 0, 0, "(0: the config's)");
        f.choice("Norm", NORMS, s.norm);
        f.number("Z_context", -1, 0, "neighbour pairs at Z +-1, 2, 4... (-1: the config's; 0: one slice)");
        f.choice("Focus_profile", PROFILES, s.profile);
        f.choice("Preset_guide", GUIDES, s.guide);
        t.addTo(f);
        if (!f.show(null)) return null;
        s.output = f.nextText();
        s.labels = f.nextChoice();
        s.config = f.nextChoice();
        s.depth = f.nextInt();
        s.baseChannels = f.nextInt();
        s.norm = f.nextChoice();
        s.context = f.nextInt();
        s.profile = f.nextChoice();
        s.guide = f.nextChoice();
        t.readFrom(f);
        IJ.log("infocus: Train U-Net: " + execute(in, s, t, new Bar("training")));
        return new ImagePlus[0];
    }

    /** Trains and writes {@code s.output}; returns the summary line. */
    public static String execute(final Input in, final Spec s, final Training t, final Native.Progress p) {
        final int profile = s.profileFlag();
        final int guide = s.guideFlag();
        String line = Native.call(new Native.Call<String>() {
            public String run() {
                return Native.trainUnet(in.slices, in.pixelType, in.width, in.height, s.labels, s.config, s.depth,
                    s.baseChannels, s.norm, s.context, profile, guide, t.epochs, t.batch, t.patch, t.lr, t.patience,
                    t.validation, t.seed, t.augment, t.loss, t.device, t.threads, s.output, p);
            }
        });
        return line + "; wrote " + s.output;
    }
}
