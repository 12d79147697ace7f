package infocus.fiji;

/**
 * How Train U-Net and Fine-tune U-Net train (macro keys as the CLI's flags:
 * epochs, batch, patch, lr, patience, validation (--val-fraction), seed,
 * no_augment, loss, device, threads).
 */
public final class Training {
    public static final String[] DEVICES = {"auto", "cpu", "cuda"};

    public int epochs, batch, patch, patience;
    public double lr, validation;
    public long seed = 0;
    public boolean augment = true;
    /** DICE,FOCAL,BCE weights, or null for the defaults. */
    public double[] loss;
    public String device = "auto";
    /** libtorch's CPU threads; 0 leaves libtorch's default. */
    public int threads = 0;

    /** The library's defaults for training ({@code finetune} false) or fine-tuning. */
    public Training(boolean finetune) {
        String p = finetune ? "ft_" : "";
        epochs = (int) Defaults.number(p + "epochs");
        batch = (int) Defaults.number(p + "batch");
        patch = (int) Defaults.number(p + "patch");
        lr = Defaults.number(p + "lr");
        patience = (int) Defaults.number(p + "patience");
        validation = Defaults.number(p + "validation");
    }

    void addTo(Form f) {
        f.number("Epochs", epochs, 0, "most");
        f.number("Batch", batch, 0, "crops per step");
        f.number("Patch", patch, 0, "px, a multiple of 2^depth");
        f.number("Lr", lr, 6, "learning rate");
        f.number("Patience", patience, 0, "epochs (0: never stop early)");
        f.number("Validation", validation, 2, "fraction of slices held out");
        f.number("Seed", seed, 0, "");
        f.checkbox("No_augment", !augment);
        f.text("Loss", "", 14);
        f.choice("Device", DEVICES, device);
        f.number("Threads", threads, 0, "(0: libtorch's default)");
    }

    void readFrom(Form f) {
        epochs = f.nextInt();
        batch = f.nextInt();
        patch = f.nextInt();
        lr = f.nextNumber();
        patience = f.nextInt();
        validation = f.nextNumber();
        seed = (long) f.nextNumber();
        augment = !f.nextBoolean();
        loss = weights(f.nextText());
        device = f.nextChoice();
        threads = f.nextInt();
    }

    /** "1,1,0.005" as weights; "" as null (the defaults). */
    static double[] weights(String s) {
        s = s.trim();
        if (s.isEmpty() || s.equals("default")) return null;
        String[] parts = s.split(",");
        double[] w = new double[parts.length];
        try {
            for (int i = 0; i < parts.length; i++) w[i] = Double.parseDouble(parts[i].trim());
        } catch (NumberFormatException e) {
            throw new InfocusException("invalid", "loss takes three weights DICE,FOCAL,BCE, e.g. 1,1,0.005, not '" + s + "'");
        }
        return w;
    }
}
