package infocus.fiji;

import ij.IJ;
import ij.ImagePlus;

/**
 * Plugins > infocus > Fine-tune U-Net...: fine-tunes a model file on manual
 * masks (an open image of the same size, nonzero = in focus) of the current
 * stack and writes the fine-tuned model, as {@code infocus finetune}.
 */
public class FinetuneUnet extends Command {
    /** The model to start from, where the result goes, and which slices are annotated. */
    public static final class Spec {
        public String model = "", output = "";
        /** "" : the slices with any nonzero mask pixel; else e.g. "0,5,9". */
        public String slices = "";
        public boolean freezeEncoder;
    }

    @Override
    String name() {
        return "Fine-tune U-Net";
    }

    @Override
    ImagePlus[] runOn(ImagePlus imp) {
        Input in = Input.of(imp, 1);
        Spec s = new Spec();
        Training t = new Training(true);
        Form f = new Form("infocus: Fine-tune U-Net");
        f.file("Model", IJ.getDirectory("home") + "infocus-unet.safetensors");
        f.image("Masks");
        f.file("Output", IJ.getDirectory("home") + "infocus-unet-finetuned.safetensors");
        f.text("Slices", "", 14);
        f.checkbox("Freeze_encoder", false);
        t.addTo(f);
        if (!f.show(null)) return null;
        s.model = f.nextText();
        ImagePlus maskImp = f.nextImage();
        s.output = f.nextText();
        s.slices = f.nextText();
        s.freezeEncoder = f.nextBoolean();
        t.readFrom(f);
        Input masks = Input.of(maskImp, 1);
        IJ.log("infocus: Fine-tune U-Net: " + execute(in, masks, s, t, new Bar("fine-tuning")));
        return new ImagePlus[0];
    }

    /** Fine-tunes and writes {@code s.output}; returns the summary line. */
    public static String execute(final Input in, final Input masks, final Spec s, final Training t,
            final Native.Progress p) {
        if (masks.width != in.width || masks.height != in.height || masks.slices.length != in.slices.length) {
            throw new InfocusException("invalid", "the masks are " + masks.slices.length + " x " + masks.height + " x "
                + masks.width + " but the stack is " + in.slices.length + " x " + in.height + " x " + in.width
                + "; they must match");
        }
        String line = Native.call(new Native.Call<String>() {
            public String run() {
                return Native.finetuneUnet(in.slices, in.pixelType, masks.slices, masks.pixelType, in.width,
                    in.height, s.model, s.slices, s.freezeEncoder, t.epochs, t.batch, t.patch, t.lr, t.patience,
                    t.validation, t.seed, t.augment, t.loss, t.device, t.threads, s.output, p);
            }
        });
        return line + "; wrote " + s.output;
    }
}
