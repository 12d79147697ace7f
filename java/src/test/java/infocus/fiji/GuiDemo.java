package infocus.fiji;

import ij.IJ;
import ij.ImageJ;
import ij.ImagePlus;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.plugin.frame.Recorder;
import java.awt.Button;
import java.awt.Checkbox;
import java.awt.Choice;
import java.awt.Rectangle;
import java.awt.Robot;
import java.awt.TextField;
import java.awt.Toolkit;
import java.awt.Window;
import java.awt.event.ActionEvent;
import java.io.File;
import javax.imageio.ImageIO;

/**
 * Drives the six menu commands through their dialogs in a real ImageJ
 * window (under Xvfb: java/screenshots.sh) with the Macro Recorder open:
 * writes screenshots of the Segment dialog and of its results, and prints
 * the line the recorder wrote for each command.
 * Usage: GuiDemo OUT_DIR STACK.tif WORK_DIR
 */
public final class GuiDemo {
    private GuiDemo() {}

    public static void main(String[] a) throws Exception {
        final File out = new File(a[0]);
        String work = a[2];
        out.mkdirs();
        new ImageJ(ImageJ.STANDALONE);
        ImagePlus imp = IJ.openImage(a[1]);
        imp.show();
        IJ.run("Record...");
        Thread.sleep(1500);
        String stack = imp.getTitle();
        String name = imp.getShortTitle();

        GenericDialog gd = open(stack, "Segment...");
        ((Choice) gd.getChoices().get(0)).select("default");
        for (int i = 2; i < 4; i++) ((Checkbox) gd.getCheckboxes().get(i)).setState(true); // depth, all-in-focus
        Thread.sleep(500);
        shoot(gd.getBounds(), new File(out, "segment-dialog.png"));
        ok(gd, name + "-all-in-focus");
        IJ.run("Tile");
        for (int id : WindowManager.getIDList()) {
            ImagePlus r = WindowManager.getImage(id);
            if (r.getStackSize() > 1) r.setSlice(r.getStackSize() / 2 + 1);
        }
        Recorder.getInstance().setBounds(0, 420, 1000, 200);
        Thread.sleep(1500);
        Rectangle screen = new Rectangle(Toolkit.getDefaultToolkit().getScreenSize()).intersection(new Rectangle(0, 0, 1140, 625));
        shoot(screen, new File(out, "segment-result.png"));

        gd = open(stack, "Focus Map...");
        ((Choice) gd.getChoices().get(0)).select("paper");
        ok(gd, name + "-focus-map");

        gd = open(stack, "Depth Map / All-in-Focus...");
        ok(gd, name + "-depth");

        gd = open(stack, "Train U-Net...");
        text(gd, 0, work + "/unet.safetensors");
        number(gd, 2, "3"); // epochs
        ok(gd, null);

        gd = open(stack, "Fine-tune U-Net...");
        text(gd, 0, work + "/unet.safetensors");
        ((Choice) gd.getChoices().get(0)).select(name + "-mask");
        text(gd, 1, work + "/unet-finetuned.safetensors");
        number(gd, 0, "2"); // epochs
        ok(gd, null);

        gd = open(stack, "Predict U-Net...");
        text(gd, 0, work + "/unet-finetuned.safetensors");
        ok(gd, name + "-unet-mask");
        Thread.sleep(1000);

        System.out.println("RECORDED:");
        for (String line : Recorder.getInstance().getText().split("\n")) {
            if (line.startsWith("run(\"") && !line.contains("Tile")) System.out.println(line);
        }
        System.out.println("GUI_DEMO_DONE");
        System.exit(0);
    }

    /** Selects the stack, starts the command as its menu item would, and waits for its dialog. */
    static GenericDialog open(String stack, String command) throws Exception {
        IJ.selectWindow(stack);
        Thread.sleep(300);
        IJ.doCommand(command);
        String title = "infocus: " + command.replace("...", "");
        for (int i = 0; i < 200; i++) {
            for (Window w : Window.getWindows()) {
                if (w instanceof GenericDialog && w.isShowing() && title.equals(((GenericDialog) w).getTitle())) {
                    return (GenericDialog) w;
                }
            }
            Thread.sleep(100);
        }
        throw new IllegalStateException("no dialog '" + title + "'; log: " + IJ.getLog());
    }

    static void text(GenericDialog gd, int i, String v) {
        ((TextField) gd.getStringFields().get(i)).setText(v);
    }

    static void number(GenericDialog gd, int i, String v) {
        ((TextField) gd.getNumericFields().get(i)).setText(v);
    }

    /** Presses OK and waits for the window {@code result} (or for the command to log its line). */
    static void ok(GenericDialog gd, String result) throws Exception {
        int logged = String.valueOf(IJ.getLog()).length();
        Button okay = gd.getButtons()[0];
        okay.dispatchEvent(new ActionEvent(okay, ActionEvent.ACTION_PERFORMED, "OK"));
        for (int i = 0; i < 600; i++) {
            Thread.sleep(100);
            if (result != null ? WindowManager.getImage(result) != null
                    : String.valueOf(IJ.getLog()).length() > logged) {
                Thread.sleep(500);
                return;
            }
        }
        throw new IllegalStateException("no result from " + gd.getTitle() + "; log: " + IJ.getLog());
    }

    static void shoot(Rectangle r, File f) throws Exception {
        ImageIO.write(new Robot().createScreenCapture(r), "png", f);
    }
}
